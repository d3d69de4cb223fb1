/// `FailureReason` texts, as SageMaker writes them (reference sagemaker-semantics.md §2.4).
public enum FailureReason {
    /// API `FailureReason` is at most 1024 characters.
    public static let maximumLength = 1024

    /// SageMaker's text for an OOM-killed container: what grand-challenge.org's SageMaker backend
    /// matches to say "the container was killed as it exceeded its memory limit"
    /// (`app/grandchallenge/components/backends/amazon_sagemaker_base.py`), and what users quote
    /// from failed jobs. Decided by the engine's `State.OOMKilled`, not by the exit code: a
    /// container killed by SIGKILL otherwise (137 too) is an AlgorithmError (test_security.py).
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

    /// The reason for a job of several hosts whose first failing host exited non-zero. Unsure:
    /// SageMaker documents no multi-instance text. The current service's reasons end with the exit
    /// code after the failure text, `AlgorithmError: <failure file>, exit code: N` — seen bare on a
    /// job without a failure file as "AlgorithmError: , exit code: 1"
    /// (aws-samples/amazon-sagemaker-ml-pipeline-deploy-with-terraform#12, 2024), and after the
    /// toolkit's `ExecuteUserScriptError` texts of distributed jobs. Reasons of 2-host jobs quoted in
    /// issues are the failing host's failure-file text and nothing about the host ("AlgorithmError:
    /// ExecuteUserScriptError: Command \"mpirun --host algo-1:8,algo-2:8 ...\"",
    /// heiko-hotz/text-summarisation-project#2, 2023), so Trainyard names no host either: the failure
    /// text is the first failing host's, then its exit code; that host's own log stream shows the
    /// rest. The exit code is kept when the text is capped at 1024.
    public static func clusterAlgorithmError(exitCode: Int, oomKilled: Bool, failureFileText: String?) -> String {
        if oomKilled { return outOfMemory }
        let text = failureFileText.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 } ?? ""
        let suffix = ", exit code: \(exitCode)"
        let head = "AlgorithmError: "
        return capped(head + text, to: maximumLength - suffix.utf16.count) + suffix
    }

    /// With a GPU instance type and `--gpus auto`, an engine without an NVIDIA GPU runtime: the
    /// user's setup to change, so a ClientError, saying what to install or how to run on the CPU.
    public static func noGPURuntime(requested: Int) -> String {
        "ClientError: The job's instance type has \(requested) GPU\(requested == 1 ? "" : "s"), but the container engine reports no NVIDIA GPU runtime. Install the NVIDIA Container Toolkit and register it with Docker (nvidia-ctk runtime configure --runtime=docker, then restart Docker), or run trainyard with --gpus none to train on the CPU."
    }

    /// Truncates to the API's 1024 characters (counted as UTF-16 units, as AWS's Java services count).
    public static func capped(_ text: String, to maximumLength: Int = maximumLength) -> String {
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
    /// Only for runtimes that cannot pull (a Docker engine pulls a missing image in Downloading).
    public static func missingImage(_ image: String) -> String {
        "ClientError: The training image \(image) is not present on the container engine, and this container runtime does not pull images: build or load the image there first (docker build / docker load)."
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

    /// A cluster node died (or lost contact with the manager) while it ran one of the job's hosts.
    /// SageMaker fails a job whose instance fails with an `InternalServerError` reason — the class
    /// of failure its `RetryStrategy` retries ("The retry strategy to use when a training job fails
    /// due to an InternalServerError", API RetryStrategy); GPU faults get a cluster repair and an
    /// automatic restart (DG "Cluster repairs for GPU errors"), which Trainyard does not emulate.
    public static func instanceLost(host: String, detail: String) -> String {
        "InternalServerError: The instance running \(host) failed during training (\(detail)). Create the training job again; it resumes from its checkpoints if it saves any."
    }

    /// The cluster refused to run a host's container (Swarm task `rejected`): the image cannot be
    /// pulled on the node, or the node cannot give what the task asks for.
    public static func taskRejected(host: String, detail: String) -> String {
        "ClientError: The cluster could not start \(host): \(detail)"
    }

    public static func containerLost(_ name: String) -> String {
        "InternalServerError: The training container \(name) disappeared before it exited; it may have been removed outside Trainyard."
    }
}
