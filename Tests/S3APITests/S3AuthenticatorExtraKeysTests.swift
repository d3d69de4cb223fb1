import EventHTTP
import Foundation
import ObjectStore
import SageMakerAPI
import Testing

@testable import S3API

/// The hook through which training containers' per-job keys (trainyard's ContainerCredentials.swift)
/// are verified: whatever `--auth` is, a request the hook claims is checked against the entry it
/// returns and acts for that entry's account.
@Suite struct S3AuthenticatorExtraKeysTests {
    typealias Signed = S3AuthenticatorTests

    func authenticate(_ extraKeys: @escaping S3Authenticator.ExtraKeys) throws(S3Error) -> S3Authenticator.Identity {
        // `--auth none` (no credentials file): without the hook every request would act for 123456789012.
        let authenticator = S3Authenticator(
            credentials: nil, defaultAccount: "123456789012", region: "us-east-1", now: { Signed.signedAt },
            extraKeys: extraKeys)
        return try authenticator.authenticate(Signed.signedPut, query: WireFormats.parseQuery(Signed.signedPut.query))
    }

    @Test func aClaimedKeyIsVerifiedAndActsForItsAccountEvenWithoutAuth() throws {
        let identity = try authenticate { _ in
            .init(accessKeyId: "AKIAALICE0000000001", secretAccessKey: "alice-secret", accountId: "333333333333")
        }
        #expect(identity.account == "333333333333")
    }

    @Test func aClaimedKeyWithAnotherSecretDoesNotVerify() {
        #expect {
            try authenticate { _ in
                .init(accessKeyId: "AKIAALICE0000000001", secretAccessKey: "not-the-secret", accountId: "333333333333")
            }
        } throws: { ($0 as? S3Error)?.code == "SignatureDoesNotMatch" }
    }

    @Test func theHooksRefusalIsTheAnswer() {
        #expect {
            try authenticate { _ throws(S3Error) in throw S3Error(code: "AccessDenied", message: "container", status: 403) }
        } throws: { ($0 as? S3Error)?.code == "AccessDenied" }
    }

    @Test func requestsTheHookDoesNotClaimAreAuthenticatedAsBefore() throws {
        #expect(try authenticate { _ in nil }.account == "123456789012")
    }
}
