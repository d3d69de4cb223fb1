/// `FailureReason` texts, as SageMaker writes them (reference sagemaker-semantics.md §2.4).
public enum FailureReason {
    /// API `FailureReason` is at most 1024 characters.
    public static let maximumLength = 1024

    /// SageMaker's text for an OOM-killed container (grand-challenge's SageMaker backend, user reports).
    public static let outOfMemory =
        "ClientError: Please use an instance type with more memory, or reduce the size of job data processed on an instance."

    /// The reason for a container that exited non-zero: `AlgorithmError: <failure file>` when
    /// /opt/ml/output/failure has text (DG-out: its first 1024 characters), else
    /// `AlgorithmError: Exit Code: N` (amazon-sagemaker-examples#1234); OOM kills get the ClientError text.
    public static func algorithmError(exitCode: Int, oomKilled: Bool, failureFileText: String?) -> String {
        if oomKilled { return outOfMemory }
        if let text = failureFileText, !text.allSatisfy(\.isWhitespace) {
            return capped("AlgorithmError: " + text)
        }
        return "AlgorithmError: Exit Code: \(exitCode)"
    }

    /// Truncates to the API's 1024 characters (counted as UTF-16 units, as AWS's Java services count).
    public static func capped(_ text: String) -> String {
        guard text.utf16.count > maximumLength else { return text }
        var result = ""
        var units = 0
        for character in text {
            let width = character.utf16.count
            if units + width > maximumLength { break }
            result.append(character)
            units += width
        }
        return result
    }
}

/// Platform faults: what went wrong on Trainyard's side, said so that a user knows what to do.
/// SageMaker's own texts for these are ClientError (the user's mistake) or InternalServerError.
extension FailureReason {
    public static func missingImage(_ image: String) -> String {
        "ClientError: The training image \(image) is not present on the container engine. Trainyard does not pull from registries: build or load the image on this machine first (docker build / docker load)."
    }

    public static func engineUnreachable(_ message: String) -> String {
        "InternalServerError: Trainyard could not reach the container engine (\(message)). Start Docker, or run trainyard with --runtime simulated, and create the job again."
    }

    public static func containerVanished(_ name: String) -> String {
        "InternalServerError: the training container \(name) vanished."
    }

    public static func containerNameInUse(_ name: String) -> String {
        "InternalServerError: a container named \(name) already exists."
    }

    public static func engineFailed(status: Int, message: String) -> String {
        "InternalServerError: the container engine failed (\(status)): \(message)"
    }

    public static func containerLost(_ name: String) -> String {
        "InternalServerError: The training container \(name) disappeared before it exited; it may have been removed outside Trainyard."
    }
}
