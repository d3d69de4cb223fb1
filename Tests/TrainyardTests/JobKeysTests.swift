import Foundation
import Testing

@testable import trainyard

@Suite("Job access keys")
struct JobKeysTests {
    let keys = JobKeys(secret: Data(repeating: 7, count: 32))

    @Test("a key id is 20 characters of AWS's alphabet and names its job again")
    func roundTrip() {
        for id: Int64 in [1, 2, 3, 42, 1_000, 123_456_789, (1 << 54) - 1] {
            let key = keys.accessKeyID(jobID: id)
            #expect(key.count == 20)
            #expect(key.hasPrefix("AKIATYJOB"))
            #expect(key.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) })
            #expect(keys.jobID(accessKeyID: key) == id)
        }
    }

    @Test("consecutive jobs get unrelated key ids: the id does not show how many jobs ran")
    func keyIDsDoNotCount() {
        let ids = (1...200).map { keys.accessKeyID(jobID: Int64($0)) }
        #expect(Set(ids).count == 200)
        #expect(ids != ids.sorted(), "key ids sort like the job ids they hide")
        // The old form (the id in decimal) shared 9 of 11 characters between jobs 1 and 200.
        #expect(Set(ids.map { $0.dropFirst(10).prefix(1) }).count > 24, "the second character barely varies")
        // Another server secret, another mapping.
        let other = JobKeys(secret: Data(repeating: 9, count: 32))
        #expect(other.accessKeyID(jobID: 1) != keys.accessKeyID(jobID: 1))
    }

    @Test("foreign or malformed key ids name no job")
    func foreignKeys() {
        #expect(keys.jobID(accessKeyID: "AKIAIOSFODNN7EXAMPLE") == nil)
        #expect(keys.jobID(accessKeyID: "AKIATYJOB00000000042") == nil)  // digits 0/1/8/9 are not base32
        #expect(keys.jobID(accessKeyID: "AKIATYJOB" + "7" + String(repeating: "A", count: 10)) == nil)  // over 54 bits
        #expect(keys.jobID(accessKeyID: "AKIATYJOBAAAA") == nil)
    }
}
