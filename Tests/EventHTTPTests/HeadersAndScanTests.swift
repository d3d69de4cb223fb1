@testable import EventHTTP
import Testing

@Suite("HTTPHeaders")
struct HTTPHeadersTests {
    @Test func lookupsAreCaseInsensitiveAndKeepOrderAndDuplicates() {
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("X-Amz-Target", "SageMaker.CreateTrainingJob")])
        headers.add(name: "x-amz-target", value: "second")
        #expect(headers["content-type"] == "application/json")
        #expect(headers["X-AMZ-TARGET"] == "SageMaker.CreateTrainingJob")
        #expect(headers.values(name: "X-Amz-Target") == ["SageMaker.CreateTrainingJob", "second"])
        #expect(headers.map(\.name) == ["Content-Type", "X-Amz-Target", "x-amz-target"])
        #expect(headers["missing"] == nil)
        #expect(headers.count == 3)
    }

    @Test func replaceOrAddReplacesFirstAndDropsTheRest() {
        var headers = HTTPHeaders([("A", "1"), ("b", "2"), ("a", "3")])
        headers.replaceOrAdd(name: "a", value: "9")
        #expect(headers.map { "\($0.name)=\($0.value)" } == ["a=9", "b=2"])
        headers.replaceOrAdd(name: "C", value: "new")
        #expect(headers["c"] == "new" && headers.count == 3)
        headers.remove(name: "B")
        #expect(!headers.contains(name: "b"))
    }

    @Test func nonASCIINamesCompareExactly() {
        let headers = HTTPHeaders([("Ä-Name", "v")])
        #expect(headers["Ä-Name"] == "v")
        #expect(headers["ä-name"] == nil)
        #expect(headers["A-Name"] == nil)
    }
}

@Suite("RequestHeadScan mirrors evhttp")
struct RequestHeadScanTests {
    private func scan(_ head: String) -> RequestHeadScan {
        var scan = RequestHeadScan()
        let bytes = Array(head.utf8)
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            let done = bytes[start..<index].withUnsafeBufferPointer { scan.consume(line: $0) }
            start = index + 1
            if done { break }
        }
        return scan
    }

    @Test func contentLengthRules() {
        func length(_ value: String) -> Int64? {
            Array(value.utf8).withUnsafeBufferPointer { RequestHeadScan.parseContentLength(RequestHeadScan.evhttpValue($0)) }
        }
        #expect(length("10") == 10)
        #expect(length("  10  ") == 10)
        #expect(length("+7") == 7)
        #expect(length("\t5") == 5)  // strtoll skips leading whitespace evhttp left in place
        #expect(length("-0") == 0)
        #expect(length("-1") == nil)
        #expect(length("") == nil)
        #expect(length("1 2") == nil)
        #expect(length("12abc") == nil)
        #expect(length("99999999999999999999999") == Int64.max)  // strtoll saturates
    }

    @Test func oversizedDecision() {
        let big = scan("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n")
        #expect(big.clean && big.methodMayHaveBody && big.declaresBodyLonger(than: 1000))
        #expect(!big.declaresBodyLonger(than: 2000))
        #expect(big.requestLineLength == "POST /x HTTP/1.1".utf8.count)
        // First Content-Length wins, as evhttp_find_header does.
        #expect(scan("PUT /x HTTP/1.1\nContent-Length: 5\nContent-Length: 5000\n\n").declaresBodyLonger(than: 10) == false)
        // evhttp reads no body for HEAD and TRACE; methods are case-sensitive there.
        #expect(!scan("HEAD /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n").declaresBodyLonger(than: 10))
        #expect(!scan("post /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n").declaresBodyLonger(than: 10))
        // Anything evhttp might read differently is left to evhttp.
        #expect(!scan("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5000\r\n\r\n").declaresBodyLonger(than: 10))
        #expect(!scan("POST /x HTTP/1.1\r\nContent-Length: 5000\r\n folded\r\n\r\n").declaresBodyLonger(than: 10))
        #expect(!scan("POST /x HTTP/2.0\r\nContent-Length: 5000\r\n\r\n").declaresBodyLonger(than: 10))
        #expect(!scan("POST /x HTTP/1.1\r\nContent Length 5000\r\n\r\n").declaresBodyLonger(than: 10))
        #expect(!scan("POST /x HTTP/1.1\r\nContent-Length : 5000\r\n\r\n").declaresBodyLonger(than: 10))
    }

    @Test func connectionAndExpect() {
        let expect = scan("POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nConnection: Close\r\n\r\n")
        #expect(expect.expectsContinue && expect.connection == .close)
        let http10 = scan("POST /x HTTP/1.0\r\nExpect: 100-continue\r\nConnection: keep-alive\r\n\r\n")
        #expect(!http10.expectsContinue && http10.connection == .keepAlive && !http10.atLeastHTTP11)
    }
}
