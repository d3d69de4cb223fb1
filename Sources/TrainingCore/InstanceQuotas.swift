/// Account-level instance quotas for training, as AWS Service Quotas sets them for SageMaker: one
/// quota per instance type, named "<type> for training job usage" (e.g. "ml.p3.2xlarge for
/// training job usage"), counting the instances of the account's running jobs. A create that would
/// take an account past its quota is refused with ResourceLimitExceeded (API CreateTrainingJob).
///
/// Trainyard applies the same limit per account (the `--auth sigv4` accounts, or `--account-id`).
/// Without a quota for a type, and without a default, that type is unlimited.
public struct InstanceQuotas: Sendable, Equatable {
    /// Instances allowed per instance type (`ml.m5.large` → 2).
    public var limits: [String: Int]
    /// The limit of every type not in `limits`; nil: those types are unlimited.
    public var defaultLimit: Int?

    /// No quota on any type: Trainyard's behaviour without `--instance-quota`.
    public static let unlimited = InstanceQuotas()

    public init(limits: [String: Int] = [:], defaultLimit: Int? = nil) {
        self.limits = limits
        self.defaultLimit = defaultLimit
    }

    /// The quota of `instanceType` in instances, or nil when it has none.
    public func limit(for instanceType: String) -> Int? {
        limits[instanceType] ?? defaultLimit
    }

    /// Whether a job asking for `requestDelta` instances of `instanceType` fits next to the
    /// `currentUtilization` instances the account already holds; the refusal when it does not.
    /// A request exactly reaching the quota fits.
    public func refusal(
        instanceType: String, requestDelta: Int, currentUtilization: Int
    ) -> InstanceQuotaExceeded? {
        guard let limit = limit(for: instanceType), currentUtilization + requestDelta > limit else { return nil }
        return InstanceQuotaExceeded(
            instanceType: instanceType, limit: limit, currentUtilization: currentUtilization, requestDelta: requestDelta)
    }
}

/// A create refused because it would exceed its instance type's quota: the three numbers
/// SageMaker's ResourceLimitExceeded message reports.
public struct InstanceQuotaExceeded: Error, Sendable, Equatable {
    public var instanceType: String
    public var limit: Int
    public var currentUtilization: Int
    public var requestDelta: Int

    public init(instanceType: String, limit: Int, currentUtilization: Int, requestDelta: Int) {
        self.instanceType = instanceType
        self.limit = limit
        self.currentUtilization = currentUtilization
        self.requestDelta = requestDelta
    }
}
