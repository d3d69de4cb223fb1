import ContainerRuntime
import Testing

struct ImageReferenceTests {
    private let digest = "sha256:" + String(repeating: "ab", count: 32)

    @Test("a reference splits into domain, path, tag and digest")
    func parts() throws {
        let plain = try ImageReference(parsing: "busybox")
        #expect(plain.domain == nil && plain.path == "busybox" && plain.tag == nil && plain.digest == nil)
        #expect(plain.tagOrDigest == "latest")

        let tagged = try ImageReference(parsing: "trainyard-test/busybox:1.36")
        #expect(tagged.domain == nil && tagged.path == "trainyard-test/busybox" && tagged.tag == "1.36")

        let withPort = try ImageReference(parsing: "127.0.0.1:5000/train/busybox:1")
        #expect(withPort.domain == "127.0.0.1:5000" && withPort.path == "train/busybox" && withPort.tag == "1")
        #expect(withPort.name == "127.0.0.1:5000/train/busybox")

        // A port and no tag: the ':' before the last '/' belongs to the domain.
        let portNoTag = try ImageReference(parsing: "localhost:5000/busybox")
        #expect(portNoTag.domain == "localhost:5000" && portNoTag.path == "busybox" && portNoTag.tag == nil)

        let pinned = try ImageReference(parsing: "registry.example.com/team/img@\(digest)")
        #expect(pinned.tag == nil && pinned.digest == digest && pinned.tagOrDigest == digest)

        let both = try ImageReference(parsing: "registry.example.com/team/img:v2@\(digest)")
        #expect(both.tag == "v2" && both.digest == digest && both.tagOrDigest == digest)
        #expect(both.description == "registry.example.com/team/img:v2@\(digest)")

        // Without '.', ':' or "localhost" the first component is a path component (Docker Hub).
        let hub = try ImageReference(parsing: "library/busybox:latest")
        #expect(hub.domain == nil && hub.path == "library/busybox")
    }

    @Test(
        "bad input is refused",
        arguments: [
            "", " busybox", "busybox ", "Busybox", "busy box", "busybox:", "busybox:-x", "busybox@sha256:abc",
            "busybox@", "/busybox", "busybox/", "a//b", "-busybox", "busybox-", "registry.example.com:99999/x",
            "registry.example.com:/x", "bad_domain-.com/x", "a..b", "img:" + String(repeating: "t", count: 129),
            "ünïcode", "x@sha256:" + String(repeating: "a", count: 63),
        ])
    func refused(_ text: String) {
        #expect(throws: ImageReference.ParseError.self) { try ImageReference(parsing: text) }
    }

    @Test("a name longer than 255 characters is refused")
    func tooLong() {
        let long = String(repeating: "a", count: 256)
        #expect(throws: ImageReference.ParseError.nameTooLong(long)) { try ImageReference(parsing: long) }
        #expect((try? ImageReference(parsing: String(repeating: "a", count: 255))) != nil)
    }

    @Test(
        "ECR URIs map to the registry as <registry>/<repo>:<tag>",
        arguments: [
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/train/busybox:1", "127.0.0.1:5000/train/busybox:1"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/train/busybox", "127.0.0.1:5000/train/busybox:latest"),
            ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/img:2", "127.0.0.1:5000/img:2"),
            ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/img:v1", "127.0.0.1:5000/img:v1"),
            ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.1.0-cpu-py310",
             "127.0.0.1:5000/pytorch-training:2.1.0-cpu-py310"),
        ])
    func ecrMapped(_ ecr: String, _ expected: String) throws {
        #expect(ImageReference.resolve(ecr, registry: "127.0.0.1:5000") == expected)
        #expect(try ImageReference(parsing: ecr).ecrRegistry != nil)
    }

    @Test("an ECR digest is kept, with the tag when both are given")
    func ecrDigest() {
        let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train/img@\(digest)"
        #expect(ImageReference.resolve(uri, registry: "reg.internal:443") == "reg.internal:443/train/img@\(digest)")
        let both = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train/img:3@\(digest)"
        #expect(ImageReference.resolve(both, registry: "reg.internal") == "reg.internal/train/img:3@\(digest)")
    }

    @Test("the ECR host's parts are read")
    func ecrParts() throws {
        let fips = try #require(try ImageReference(parsing: "210987654321.dkr.ecr-fips.us-east-2.amazonaws.com/x:1").ecrRegistry)
        #expect(fips.account == "210987654321" && fips.region == "us-east-2" && fips.fips)
        let china = try #require(try ImageReference(parsing: "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/x").ecrRegistry)
        #expect(china.region == "cn-northwest-1" && !china.fips)
    }

    @Test(
        "other references, and look-alikes of ECR, are unchanged",
        arguments: [
            "busybox", "trainyard-test/busybox:latest", "127.0.0.1:5000/train/busybox:1", "public.ecr.aws/lambda/python:3.12",
            "12345678901.dkr.ecr.us-east-1.amazonaws.com/short-account:1",  // 11 digits
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/x:1",
            "123456789012.ecr.us-east-1.amazonaws.com/x:1",
            "123456789012.dkr.ecr.us-east-1.amazonaws.org/x:1",
            "not a reference at all",
        ])
    func unchanged(_ text: String) {
        #expect(ImageReference.resolve(text, registry: "127.0.0.1:5000") == text)
    }

    @Test("with no registry configured an ECR URI stays as it is (a local image with that name still runs)")
    func noRegistry() throws {
        let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train/busybox:1"
        #expect(ImageReference.resolve(uri, registry: nil) == uri)
        #expect(try ImageReference(parsing: uri).resolved(registry: nil) == ImageReference(parsing: uri))
        // Without a tag it is not given one either: the engine reads the reference as it always did.
        let untagged = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train/busybox"
        #expect(ImageReference.resolve(untagged, registry: nil) == untagged)
    }

    @Test("registry addresses: host[:port], nothing else")
    func registries() {
        for good in ["127.0.0.1:5000", "localhost", "registry.example.com", "reg-1.internal:443", "[::1]:5000"] {
            #expect(ImageReference.isValidRegistry(good), "\(good)")
        }
        for bad in ["", "http://127.0.0.1:5000", "127.0.0.1:5000/path", "host:", "host:70000", "-host", "ho st", "host:port"] {
            #expect(!ImageReference.isValidRegistry(bad), "\(bad)")
        }
    }
}
