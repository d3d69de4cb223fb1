// EmbedMigrationsTool <migrations-directory> <output.swift> [<stamp>]
//
// Run by the EmbedMigrations build-tool plugin. Reads every *.sql file in the directory
// (named NNNN_description.sql, NNNN = the schema version, 0001…9999) and writes a Swift
// file declaring them, sorted by version:
//
//     let embeddedMigrations: [(version: Int, name: String, sql: String)] = [ … ]
//
// A badly named file or a duplicate version fails the build with a message naming the
// file(s). A missing directory yields an empty list.
//
// <stamp>, if given, is rewritten on every run: the plugin declares it as an input so
// that the build system re-runs this tool on every build (see the plugin for why). The
// output is only rewritten when its content changes, so that costs no recompilation.
import Foundation

struct Failure: Error {
    var file: String?
    var message: String
}

struct MigrationFile {
    var version: Int
    var name: String  // file name without ".sql"
    var fileName: String
    var sql: String
}

/// "0001_create_training_jobs.sql" -> (1, "0001_create_training_jobs"); nil if malformed.
func parse(fileName: String) -> (version: Int, name: String)? {
    guard fileName.hasSuffix(".sql") else { return nil }
    let name = String(fileName.dropLast(4))
    let utf8 = Array(name.utf8)
    // NNNN, then "_", then a description of letters, digits and underscores.
    guard utf8.count >= 6,
        utf8[0..<4].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
        utf8[4] == UInt8(ascii: "_"),
        utf8[5...].allSatisfy({ byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }),
        let version = Int(String(decoding: utf8[0..<4], as: UTF8.self)), version > 0
    else { return nil }
    return (version, name)
}

func loadMigrations(in directory: URL) throws(Failure) -> [MigrationFile] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else { return [] }
    guard isDirectory.boolValue else {
        throw Failure(file: directory.path, message: "Migrations is not a directory")
    }
    let names: [String]
    do {
        names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    } catch {
        throw Failure(file: directory.path, message: "cannot list directory: \(error)")
    }
    var files: [MigrationFile] = []
    for fileName in names.sorted() where fileName.hasSuffix(".sql") {
        let path = directory.appending(path: fileName).path
        guard let (version, name) = parse(fileName: fileName) else {
            throw Failure(
                file: path,
                message: "migration file name must be NNNN_description.sql (4-digit version 0001-9999, "
                    + "then '_', then letters, digits, '_' or '-'), got '\(fileName)'")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(file: path, message: "cannot read migration file")
        }
        guard let sql = String(data: data, encoding: .utf8) else {
            throw Failure(file: path, message: "migration file is not valid UTF-8")
        }
        guard !sql.utf8.contains(0) else {
            throw Failure(file: path, message: "migration file contains a NUL byte")
        }
        if let clash = files.first(where: { $0.version == version }) {
            throw Failure(
                file: path,
                message: "duplicate migration version \(version): \(clash.fileName) and \(fileName)")
        }
        files.append(MigrationFile(version: version, name: name, fileName: fileName, sql: sql))
    }
    return files.sorted { $0.version < $1.version }
}

/// A multi-line raw string literal holding `text` verbatim: one more `#` than the longest
/// run of `#` in the text, so no `"""#…`, `"#…` or `\#…(` inside can end or interpolate it.
func rawLiteral(_ text: String) -> String {
    var longest = 0
    var current = 0
    for byte in text.utf8 {
        if byte == UInt8(ascii: "#") {
            current += 1
            longest = max(longest, current)
        } else {
            current = 0
        }
    }
    let hashes = String(repeating: "#", count: longest + 1)
    // Content sits between the newline after the opening and the one before the closing
    // delimiter; with the closing delimiter at column 0 no indentation is stripped.
    return "\(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)"
}

func swiftStringLiteral(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

func render(_ files: [MigrationFile]) -> String {
    var out = "/// Generated from Migrations/*.sql by the EmbedMigrations plugin. Do not edit.\n"
    out += "let embeddedMigrations: [(version: Int, name: String, sql: String)] = ["
    if files.isEmpty {
        return out + "]\n"
    }
    out += "\n"
    for file in files {
        out += "(\(file.version), \(swiftStringLiteral(file.name)), \(rawLiteral(file.sql))),\n"
    }
    return out + "]\n"
}

let arguments = CommandLine.arguments
guard arguments.count == 3 || arguments.count == 4 else {
    FileHandle.standardError.write(
        Data("usage: EmbedMigrationsTool <migrations-directory> <output.swift> [<stamp>]\n".utf8))
    exit(2)
}
let directory = URL(fileURLWithPath: arguments[1], isDirectory: true)
let output = URL(fileURLWithPath: arguments[2])
let stamp = arguments.count == 4 ? URL(fileURLWithPath: arguments[3]) : nil

// First, so that even a failing run (bad file name) is retried on the next build.
// An atomic write gives the stamp a new inode, so its file info always changes.
if let stamp {
    try? Data("\(Date().timeIntervalSince1970)\n".utf8).write(to: stamp, options: .atomic)
}

do {
    let source = render(try loadMigrations(in: directory))
    // Leave an unchanged file untouched, so its timestamp does not trigger recompiles.
    if FileManager.default.contents(atPath: output.path) != Data(source.utf8) {
        try Data(source.utf8).write(to: output, options: .atomic)
    }
} catch let failure as Failure {
    // "path: error: message" is picked up by SwiftPM/IDEs as a diagnostic on that file.
    let location = failure.file.map { "\($0): " } ?? ""
    FileHandle.standardError.write(Data("\(location)error: EmbedMigrations: \(failure.message)\n".utf8))
    exit(1)
} catch {
    FileHandle.standardError.write(Data("error: EmbedMigrations: cannot write \(output.path): \(error)\n".utf8))
    exit(1)
}
