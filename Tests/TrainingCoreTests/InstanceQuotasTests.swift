import Testing
import TrainingCore

struct InstanceQuotasTests {
    @Test("a listed type has its own limit, other types the default, and without a default no limit")
    func limits() {
        let quotas = InstanceQuotas(limits: ["ml.p3.2xlarge": 0, "ml.m5.large": 2])
        #expect(quotas.limit(for: "ml.p3.2xlarge") == 0)
        #expect(quotas.limit(for: "ml.m5.large") == 2)
        #expect(quotas.limit(for: "ml.c5.xlarge") == nil)
        #expect(InstanceQuotas(limits: ["ml.m5.large": 2], defaultLimit: 1).limit(for: "ml.c5.xlarge") == 1)
        #expect(InstanceQuotas.unlimited.limit(for: "ml.m5.large") == nil)
    }

    @Test("a request fits while utilization plus its delta stays within the limit")
    func refusal() {
        let quotas = InstanceQuotas(limits: ["ml.m5.large": 2, "ml.p3.2xlarge": 0])
        #expect(quotas.refusal(instanceType: "ml.m5.large", requestDelta: 2, currentUtilization: 0) == nil)
        #expect(quotas.refusal(instanceType: "ml.m5.large", requestDelta: 1, currentUtilization: 1) == nil)
        #expect(
            quotas.refusal(instanceType: "ml.m5.large", requestDelta: 1, currentUtilization: 2)
                == InstanceQuotaExceeded(instanceType: "ml.m5.large", limit: 2, currentUtilization: 2, requestDelta: 1))
        #expect(
            quotas.refusal(instanceType: "ml.p3.2xlarge", requestDelta: 1, currentUtilization: 0)
                == InstanceQuotaExceeded(instanceType: "ml.p3.2xlarge", limit: 0, currentUtilization: 0, requestDelta: 1))
        #expect(quotas.refusal(instanceType: "ml.c5.xlarge", requestDelta: 1_000, currentUtilization: 1_000) == nil)
    }
}
