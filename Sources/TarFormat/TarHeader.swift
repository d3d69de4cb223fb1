// The ustar header block (POSIX.1-1988, as GNU tar and Python's tarfile read it), shared by the
// two archive writers: Scheduler/Tarball.swift (model.tar.gz, output.tar.gz: pax records for long
// names and big sizes) and WorkspaceStaging/StagingTar.swift (the staging wire format: GNU long
// names and base-256 sizes, read back by busybox tar and SafeTarExtractor).

/// One 512-byte ustar header: the fields the two writers set, encoded with its checksum, and
/// decoded back (`init(decoding:)`).
public struct TarHeader: Equatable, Sendable {
    public static let blockSize = 512
    /// The largest size the 12-byte octal field holds (11 digits); past it `encode` writes base-256.
    public static let largestOctalSize: Int64 = 0o77777777777

    public static let regularFile = UInt8(ascii: "0")
    public static let symbolicLink = UInt8(ascii: "2")
    public static let directory = UInt8(ascii: "5")
    public static let paxExtended = UInt8(ascii: "x")
    public static let gnuLongName = UInt8(ascii: "L")

    /// Its first 100 UTF-8 bytes go in the block; a longer name needs a pax record or a GNU long name.
    public var name: String
    public var type: UInt8
    public var mode: Int64
    public var uid: Int64
    public var gid: Int64
    public var size: Int64
    public var mtime: Int64
    /// Its first 100 UTF-8 bytes go in the block.
    public var linkname: String

    public init(
        name: String, type: UInt8, mode: Int64, uid: Int64 = 0, gid: Int64 = 0, size: Int64 = 0, mtime: Int64 = 0,
        linkname: String = ""
    ) {
        self.name = name
        self.type = type
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.linkname = linkname
    }

    /// The block: octal fields zero-padded and NUL-ended (a value too large for its field is
    /// written as zeros, except the size, which goes base-256 as GNU tar writes it), the "ustar\000"
    /// magic, and the checksum (6 octal digits, NUL, space, as GNU tar writes it).
    public func encode() -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        func put<Bytes: Sequence<UInt8>>(_ bytes: Bytes, at offset: Int) {
            for (index, byte) in bytes.enumerated() { block[offset + index] = byte }
        }
        put(name.utf8.prefix(100), at: 0)
        put(Self.octal(mode, width: 8), at: 100)
        put(Self.octal(uid, width: 8), at: 108)
        put(Self.octal(gid, width: 8), at: 116)
        if size <= Self.largestOctalSize {
            put(Self.octal(size, width: 12), at: 124)
        } else {
            // Base-256 (GNU): the high bit of the first byte, then the size big-endian.
            block[124] = 0x80
            for index in 0..<8 { block[135 - index] = UInt8(truncatingIfNeeded: size >> (8 * index)) }
        }
        put(Self.octal(mtime, width: 12), at: 136)
        put(repeatElement(UInt8(ascii: " "), count: 8), at: 148)
        block[156] = type
        put(linkname.utf8.prefix(100), at: 157)
        put("ustar\u{0}00".utf8, at: 257)
        let checksum = block.reduce(0) { $0 + Int64($1) }
        put(Self.octal(checksum, width: 7) + [0, UInt8(ascii: " ")], at: 148)
        return block
    }

    /// `width - 1` octal digits, zero-padded (the field's last byte stays NUL); zeros when the
    /// value does not fit or is negative.
    static func octal(_ value: Int64, width: Int) -> [UInt8] {
        let digits = String(value, radix: 8)
        guard digits.count < width, value >= 0 else { return Array(repeating: UInt8(ascii: "0"), count: width - 1) }
        return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8)
    }

    /// Zero bytes that bring `size` bytes of entry data to a whole block.
    public static func padding(for size: Int64) -> Int {
        Int((Int64(blockSize) - size % Int64(blockSize)) % Int64(blockSize))
    }

    /// `bytes` followed by its padding.
    public static func padded(_ bytes: [UInt8]) -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: padding(for: Int64(bytes.count)))
    }

    // MARK: pax and GNU extensions

    /// "<length> <key>=<value>\n", where the length counts itself (POSIX.1-2001 pax).
    public static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array("\(length)\(body)".utf8)
    }

    /// A pax extended header entry (header and padded records) that applies to the next entry, or
    /// nothing when `records` is empty. Its own name is `PaxHeaders/` and the end of `name`.
    public static func paxEntry(for name: String, records: [(key: String, value: String)]) -> [UInt8] {
        guard !records.isEmpty else { return [] }
        let data = records.flatMap { paxRecord($0.key, $0.value) }
        var tail = name.utf8.suffix(80)[...]
        while let first = tail.first, first & 0xC0 == 0x80 { tail = tail.dropFirst() }  // not half a character
        let header = TarHeader(
            name: "PaxHeaders/" + String(decoding: tail, as: UTF8.self), type: paxExtended, mode: 0o644,
            size: Int64(data.count))
        return header.encode() + padded(data)
    }

    /// A GNU long-name entry (`././@LongLink`, type L, the full name NUL-ended as its data) that
    /// names the next entry, or nothing when `name` fits the header's 100 bytes.
    public static func gnuLongNameEntry(for name: String) -> [UInt8] {
        guard name.utf8.count > 100 else { return [] }
        let data = Array(name.utf8) + [0]
        return TarHeader(name: "././@LongLink", type: gnuLongName, mode: 0, size: Int64(data.count)).encode() + padded(data)
    }

    /// The `key=` value of the last such record in a pax extended header's data (nil if none).
    public static func paxValue(_ key: String, in data: [UInt8]) -> String? {
        var rest = data[...]
        var found: String?
        while let space = rest.firstIndex(of: UInt8(ascii: " ")), let length = Int(String(decoding: rest[..<space], as: UTF8.self)),
            length > 0, rest.count >= length
        {
            let record = rest[rest.startIndex..<(rest.startIndex + length)]
            let body = record[(space + 1)...].dropLast()  // the record ends with "\n"
            if let equals = body.firstIndex(of: UInt8(ascii: "=")), String(decoding: body[..<equals], as: UTF8.self) == key {
                found = String(decoding: body[(equals + 1)...], as: UTF8.self)
            }
            rest = rest[(rest.startIndex + length)...]
        }
        return found
    }

    // MARK: decoding

    public enum DecodingError: Error, Equatable {
        case badChecksum
        case badSize
    }

    /// Reads a header block (512 bytes): the checksum must match; the name joins a ustar prefix;
    /// the size may be octal or base-256; an unreadable mode reads as 0644, an unreadable time as 0.
    public init(decoding block: [UInt8]) throws(DecodingError) {
        precondition(block.count == Self.blockSize, "a tar header is one 512-byte block")
        guard Self.checksumMatches(block) else { throw .badChecksum }
        guard let size = Self.size(block) else { throw .badSize }
        func text(_ range: Range<Int>) -> String { String(decoding: block[range].prefix(while: { $0 != 0 }), as: UTF8.self) }
        let name = text(0..<100)
        let prefix = block[257..<262].elementsEqual("ustar".utf8) ? text(345..<500) : ""
        self.init(
            name: prefix.isEmpty ? name : prefix + "/" + name, type: block[156], mode: Self.octal(block[100..<108]) ?? 0o644,
            uid: Self.octal(block[108..<116]) ?? 0, gid: Self.octal(block[116..<124]) ?? 0, size: size,
            mtime: Self.octal(block[136..<148]) ?? 0, linkname: text(157..<257))
    }

    static func size(_ block: [UInt8]) -> Int64? {
        if block[124] & 0x80 != 0 {
            var value: Int64 = 0
            for byte in block[125..<136] {
                guard value < (Int64.max >> 8) else { return nil }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        return octal(block[124..<136])
    }

    /// An octal field: leading spaces or NULs skipped, ended by a space or NUL; nil if not octal.
    static func octal(_ field: ArraySlice<UInt8>) -> Int64? {
        var value: Int64 = 0
        var seen = false
        for byte in field {
            if byte == 0 || byte == UInt8(ascii: " ") {
                if seen { break } else { continue }
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte), value < (Int64.max >> 3) else { return nil }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
            seen = true
        }
        return value
    }

    /// The stored checksum equals the sum of the block's bytes with the checksum field as spaces.
    public static func checksumMatches(_ block: [UInt8]) -> Bool {
        guard block.count == blockSize, let stored = octal(block[148..<156]) else { return false }
        var sum: Int64 = 0
        for (index, byte) in block.enumerated() { sum += (148..<156).contains(index) ? 32 : Int64(byte) }
        return sum == stored
    }
}
