import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The XML S3, STS and IAM answer with: elements and escaped text, written straight into bytes.
struct XMLWriter {
    private(set) var bytes: [UInt8]

    init(declaration: Bool = true) {
        bytes = []
        bytes.reserveCapacity(512)
        if declaration { bytes.append(contentsOf: #"<?xml version="1.0" encoding="UTF-8"?>"#.utf8) }
    }

    mutating func open(_ name: String, namespace: String? = nil) {
        startTag(name, namespace: namespace)
        bytes.append(UInt8(ascii: ">"))
    }

    mutating func close(_ name: String) {
        bytes.append(contentsOf: "</".utf8)
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: ">"))
    }

    mutating func element(_ name: String, _ text: String) {
        open(name)
        escape(text)
        close(name)
    }

    mutating func element(_ name: String, _ value: Int64) { element(name, String(value)) }
    mutating func element(_ name: String, _ value: Int) { element(name, String(value)) }
    mutating func element(_ name: String, _ value: Bool) { element(name, value ? "true" : "false") }

    mutating func empty(_ name: String, namespace: String? = nil) {
        startTag(name, namespace: namespace)
        bytes.append(contentsOf: "/>".utf8)
    }

    /// `<name` with its namespace, for `open` (`>`) and `empty` (`/>`) to end.
    private mutating func startTag(_ name: String, namespace: String?) {
        bytes.append(UInt8(ascii: "<"))
        bytes.append(contentsOf: name.utf8)
        if let namespace {
            bytes.append(contentsOf: #" xmlns=""#.utf8)
            bytes.append(contentsOf: namespace.utf8)
            bytes.append(UInt8(ascii: "\""))
        }
    }

    mutating func group(_ name: String, namespace: String? = nil, _ body: (inout XMLWriter) -> Void) {
        open(name, namespace: namespace)
        body(&self)
        close(name)
    }

    /// Escaped text inside the element just opened.
    mutating func text(_ text: String) { escape(text) }

    /// Markup written as given (constant strings only).
    mutating func appendRaw(_ raw: String) { bytes.append(contentsOf: raw.utf8) }

    /// Escapes markup characters, and characters XML 1.0 cannot carry as `&#N;` would be invalid too:
    /// those are replaced by U+FFFD (a key with a control character should use encoding-type=url).
    private mutating func escape(_ text: String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": bytes.append(contentsOf: "&amp;".utf8)
            case "<": bytes.append(contentsOf: "&lt;".utf8)
            case ">": bytes.append(contentsOf: "&gt;".utf8)
            case "\"": bytes.append(contentsOf: "&quot;".utf8)
            case "\r": bytes.append(contentsOf: "&#13;".utf8)
            case "\n": bytes.append(contentsOf: "&#10;".utf8)
            case "\t": bytes.append(contentsOf: "&#9;".utf8)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    bytes.append(contentsOf: "\u{FFFD}".utf8)
                } else {
                    bytes.append(contentsOf: String(scalar).utf8)
                }
            }
        }
    }
}

/// A parsed XML document as a small tree (request bodies: DeleteObjects, CompleteMultipartUpload,
/// CreateBucketConfiguration). Namespaces are ignored, as S3 ignores them in requests; DTDs and
/// external entities are never resolved.
final class XMLNode {
    let name: String
    var text = ""
    var children: [XMLNode] = []

    init(name: String) { self.name = name }

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }

    static func parse(_ bytes: [UInt8]) -> XMLNode? {
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = true
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse(), builder.failed == false else { return nil }
        return builder.root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?
        var failed = false

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            let node = XMLNode(name: elementName)
            if let parent = stack.last { parent.children.append(node) } else if root == nil { root = node } else { failed = true }
            stack.append(node)
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            _ = stack.popLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
        }

        func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
            stack.last?.text += String(decoding: CDATABlock, as: UTF8.self)
        }
    }
}
