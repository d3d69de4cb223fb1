import ArgumentParser
import Foundation
import SageMakerAPI

/// `--instance-quota TYPE=N` (repeatable) and `TRAINYARD_INSTANCE_QUOTA=TYPE=N,TYPE=N`: the
/// account-level quota of each instance type, checked with one clear line per mistake.
enum InstanceQuotaOption {
    /// The limits by instance type. `source` names where the entries came from in error messages
    /// (`--instance-quota` or `TRAINYARD_INSTANCE_QUOTA`).
    static func limits(
        _ entries: [String], source: String, knownTypes: Set<String> = Set(SageMakerShapes.trainingInstanceTypes)
    ) throws -> [String: Int] {
        var limits: [String: Int] = [:]
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw ValidationError("\(source) \(entry): expected TYPE=N, e.g. ml.m5.large=2")
            }
            let instanceType = parts[0].trimmingCharacters(in: .whitespaces)
            let count = parts[1].trimmingCharacters(in: .whitespaces)
            guard knownTypes.contains(instanceType) else {
                throw ValidationError("\(source) \(entry): '\(instanceType)' is not a SageMaker training instance type (e.g. ml.m5.large)")
            }
            guard let limit = Int(count), limit >= 0 else {
                throw ValidationError("\(source) \(entry): '\(count)' is not a number of instances (a whole number, zero or more)")
            }
            guard limits[instanceType] == nil else {
                throw ValidationError("\(source) \(entry): \(instanceType) is given more than once")
            }
            limits[instanceType] = limit
        }
        return limits
    }

    /// The entries of the comma-separated environment form (empty items, e.g. a trailing comma, are skipped).
    static func entries(fromEnvironment text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
