import ArgumentParser
import Foundation

@main
struct Trainyard: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "trainyard",
        abstract: "A self-hosted emulator of the Amazon SageMaker training control plane.",
        discussion: "Point boto3, the AWS CLI or the SageMaker Python SDK at `trainyard serve` with endpoint_url; training jobs run as real containers.",
        version: version,
        subcommands: [Serve.self, Migrate.self, Version.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the newest database schema it knows.")

    func run() {
        print("trainyard \(Trainyard.version)")
    }
}

/// Prints one clear line to standard error and exits non-zero (bad configuration, port in use, ...).
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("trainyard: error: \(message)\n".utf8))
    return ExitCode.failure
}

/// What went wrong with a file operation, for that one line: swift-corelibs-foundation's own text is
/// "The operation could not be completed. (NSCocoaErrorDomain error 512.)", while the POSIX error it
/// wraps says "Not a directory", "Permission denied", "Read-only file system", ...
func fileErrorText(_ error: any Error) -> String {
    let nsError = error as NSError
    // On Linux the underlying error only casts as `any Error`, not directly as NSError.
    let underlying = (nsError.userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
    let posix = nsError.domain == NSPOSIXErrorDomain ? nsError : underlying
    guard let posix, posix.domain == NSPOSIXErrorDomain else { return error.localizedDescription }
    let path = nsError.userInfo[NSFilePathErrorKey] as? String
    return String(cString: strerror(Int32(posix.code))) + (path.map { " (\($0))" } ?? "")
}
