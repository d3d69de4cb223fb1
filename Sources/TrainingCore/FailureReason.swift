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
