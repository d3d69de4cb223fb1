import Testing

@testable import TarFormat

struct TarHeaderTests {
    @Test("a header decodes back to the fields it was encoded from")
    func roundTrip() throws {
        let header = TarHeader(
            name: "1/sub/model.bin", type: TarHeader.regularFile, mode: 0o640, uid: 1000, gid: 100, size: 70_000,
            mtime: 1_765_000_000, linkname: "")
        let block = header.encode()
        #expect(block.count == 512)
        #expect(try TarHeader(decoding: block) == header)
        let link = TarHeader(name: "bin/sh", type: TarHeader.symbolicLink, mode: 0o777, linkname: "busybox")
        #expect(try TarHeader(decoding: link.encode()) == link)
    }

    @Test("the checksum is the byte sum with its own field as spaces: 6 octal digits, NUL, space")
    func checksum() throws {
        let block = TarHeader(name: "a.txt", type: TarHeader.regularFile, mode: 0o644, size: 5).encode()
        var sum = 0
        for (index, byte) in block.enumerated() { sum += (148..<156).contains(index) ? 32 : Int(byte) }
        let digits = String(sum, radix: 8)
        let field = Array((String(repeating: "0", count: 6 - digits.count) + digits).utf8) + [0, UInt8(ascii: " ")]
        #expect(Array(block[148..<156]) == field)
        #expect(TarHeader.checksumMatches(block))
        var corrupt = block
        corrupt[0] ^= 1
        #expect(!TarHeader.checksumMatches(corrupt))
        #expect(throws: TarHeader.DecodingError.badChecksum) { try TarHeader(decoding: corrupt) }
    }

    @Test("the ustar fields sit where GNU tar reads them")
    func layout() {
        let block = TarHeader(name: "dir/", type: TarHeader.directory, mode: 0o755, size: 0, mtime: 8).encode()
        #expect(Array(block[0..<4]) == Array("dir/".utf8))
        #expect(Array(block[100..<108]) == Array("0000755".utf8) + [0])
        #expect(Array(block[124..<136]) == Array("00000000000".utf8) + [0])
        #expect(Array(block[136..<148]) == Array("00000000010".utf8) + [0])
        #expect(block[156] == UInt8(ascii: "5"))
        #expect(Array(block[257..<265]) == Array("ustar\u{0}00".utf8))
        #expect(block[265..<512].allSatisfy { $0 == 0 })
    }

    @Test("a size past 11 octal digits is written base-256 and read back")
    func base256Size() throws {
        let size: Int64 = 9 << 30
        let block = TarHeader(name: "big", type: TarHeader.regularFile, mode: 0o644, size: size).encode()
        #expect(block[124] == 0x80)
        #expect(try TarHeader(decoding: block).size == size)
        let largest = TarHeader(name: "edge", type: TarHeader.regularFile, mode: 0o644, size: TarHeader.largestOctalSize).encode()
        #expect(Array(block[124..<136]) != Array(largest[124..<136]))
        #expect(Array(largest[124..<136]) == Array("77777777777".utf8) + [0])
    }

    @Test("a field too large for its octal digits is zeros, not cut")
    func overflowIsZeros() {
        let block = TarHeader(name: "x", type: TarHeader.regularFile, mode: 0o644, uid: 1 << 40, mtime: -1).encode()
        #expect(Array(block[108..<116]) == Array("0000000".utf8) + [0])
        #expect(Array(block[136..<148]) == Array("00000000000".utf8) + [0])
    }

    @Test("a long name: the block keeps its first 100 bytes, a GNU entry or a pax record carries all of it")
    func longNames() throws {
        let name = "1/" + String(repeating: "d", count: 120) + "/é.txt"
        let block = TarHeader(name: name, type: TarHeader.regularFile, mode: 0o644).encode()
        #expect(Array(block[0..<100]) == Array(name.utf8.prefix(100)))

        let gnu = TarHeader.gnuLongNameEntry(for: name)
        let gnuHeader = try TarHeader(decoding: Array(gnu[0..<512]))
        #expect(gnuHeader.name == "././@LongLink")
        #expect(gnuHeader.type == TarHeader.gnuLongName)
        #expect(gnuHeader.size == Int64(name.utf8.count + 1))
        #expect(gnu.count == 512 + 512)
        #expect(Array(gnu[512..<(512 + name.utf8.count)]) == Array(name.utf8))
        #expect(TarHeader.gnuLongNameEntry(for: "short").isEmpty)

        let pax = TarHeader.paxEntry(for: name, records: [("path", name), ("size", "9663676416")])
        let paxHeader = try TarHeader(decoding: Array(pax[0..<512]))
        #expect(paxHeader.type == TarHeader.paxExtended)
        #expect(paxHeader.name.hasPrefix("PaxHeaders/"))
        #expect(pax.count % 512 == 0)
        let data = Array(pax[512..<(512 + Int(paxHeader.size))])
        #expect(TarHeader.paxValue("path", in: data) == name)
        #expect(TarHeader.paxValue("size", in: data) == "9663676416")
        #expect(TarHeader.paxEntry(for: name, records: []).isEmpty)
    }

    @Test("a pax record's length counts its own digits")
    func paxRecordLength() {
        // " path=a\n" is 8 bytes; one digit makes 9.
        #expect(TarHeader.paxRecord("path", "a") == Array("9 path=a\n".utf8))
        // " path=<91 bytes>\n" is 98 bytes: two more digits make 100, which has three: 101.
        let record = TarHeader.paxRecord("path", String(repeating: "v", count: 91))
        #expect(record.count == 101)
        #expect(record.starts(with: Array("101 ".utf8)))
    }

    @Test("the padding brings data to a whole block")
    func padding() {
        #expect(TarHeader.padding(for: 0) == 0)
        #expect(TarHeader.padding(for: 1) == 511)
        #expect(TarHeader.padding(for: 512) == 0)
        #expect(TarHeader.padding(for: 70_000) == 512 - 70_000 % 512)
        #expect(TarHeader.padded([1, 2]).count == 512)
    }
}
