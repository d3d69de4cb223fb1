import Testing
import TrainingCore

@testable import SageMakerAPI

@Suite("JSONObjectWriter and wire timestamps")
struct JSONObjectWriterTests {
    @Test("members written in key order give the bytes of JSONValue.serialized()")
    func sameBytesAsSerialized() {
        var writer = JSONObjectWriter()
        writer.member("A", .string("x\"y"))
        writer.member("B", objects: [Int64(1), 2]) { object, number in
            object.member("N", .int(number))
            object.member("T", writing: Timestamp(milliseconds: 1_500).writeWireValue)
        }
        writer.member("C", .bool(true))
        let expected: JSONValue = .object([
            "A": .string("x\"y"),
            "B": .array([
                .object(["N": .int(1), "T": .double(1.5)]), .object(["N": .int(2), "T": .double(1.5)]),
            ]),
            "C": .bool(true),
        ])
        #expect(String(decoding: writer.finish(), as: UTF8.self) == expected.serialized())
        #expect(String(decoding: JSONObjectWriter().finish(), as: UTF8.self) == "{}")
    }

    @Test("writeWireValue spells every timestamp as its Double would")
    func wireTimestamps() {
        var samples: [Int64] = [0, 1, 9, 10, 100, 999, 1000, 1001, 1010, 1100, 1_795_735_043_660, 1_795_735_043_661,
                                1_795_735_043_600, 1_795_735_043_000, 999_999_999_999_999, 1_000_000_000_000_000, -1, -1500]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { samples.append(Int64.random(in: 0..<4_000_000_000_000, using: &generator)) }
        for milliseconds in samples {
            let timestamp = Timestamp(milliseconds: milliseconds)
            var direct: [UInt8] = []
            timestamp.writeWireValue(into: &direct)
            #expect(String(decoding: direct, as: UTF8.self) == timestamp.wireValue.serialized(), "\(milliseconds)")
        }
    }
}
