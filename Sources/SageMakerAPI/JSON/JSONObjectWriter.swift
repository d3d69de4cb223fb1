/// Writes one JSON object member by member, straight into bytes: for answers with many small
/// objects (a ListTrainingJobs page has up to 100), where building a `[String: JSONValue]` per
/// object and sorting its keys cost more than the SQLite query (perf).
///
/// Members come out in the order they are written; callers write keys in ascending order, so the
/// bytes equal those of ``JSONValue/serialized()`` for the same object.
struct JSONObjectWriter {
    private(set) var bytes: [UInt8]
    private var isEmpty = true

    init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Keys are literals in plain ASCII, written without escaping.
    mutating func member(_ key: StaticString, _ value: JSONValue) {
        writeKey(key)
        value.write(into: &bytes)
    }

    /// A member whose value `writeValue` appends as JSON text.
    mutating func member(_ key: StaticString, writing writeValue: (inout [UInt8]) -> Void) {
        writeKey(key)
        writeValue(&bytes)
    }

    /// A member whose value is an array of objects, each written by `writeElement` into this same
    /// writer (one buffer for the whole answer).
    mutating func member<Element>(
        _ key: StaticString, objects: some Sequence<Element>, _ writeElement: (inout JSONObjectWriter, Element) -> Void
    ) {
        writeKey(key)
        bytes.append(UInt8(ascii: "["))
        var first = true
        for element in objects {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(UInt8(ascii: "{"))
            isEmpty = true
            writeElement(&self, element)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
        isEmpty = false
    }

    /// Closes the object and returns the bytes.
    consuming func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func writeKey(_ key: StaticString) {
        if !isEmpty { bytes.append(UInt8(ascii: ",")) }
        isEmpty = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }
}
