import Crypto
public import EventHTTP
import Foundation
import Logging
public import SageMakerAPI

/// STS and IAM, minimal and honest (issue 11 item 4), in their AWS query protocol: form-encoded
/// `POST /` with `Action=...&Version=...`, XML answers (botocore's `query` serializer and parser;
/// models sts/2011-06-15 and iam/2010-05-08).
///
/// - STS GetCallerIdentity: the caller's account and an ARN for its key.
/// - IAM GetRole: any role name of the caller's account exists (Trainyard keeps no IAM; a job's
///   RoleArn is only echoed), with a trust policy for SageMaker.
/// - IAM SimulatePrincipalPolicy: every action `allowed` for a principal of the caller's account
///   (what SageMaker Python SDK 3.x checks before training).
/// Everything else answers `InvalidAction`, so nothing more is pretended.
public final class QueryAPIService: Sendable {
    let authenticator: any RequestAuthenticator
    let credentials: Credentials?
    let defaultAccount: String

    public init(authenticator: any RequestAuthenticator, credentials: Credentials?, defaultAccount: String) {
        self.authenticator = authenticator
        self.credentials = credentials
        self.defaultAccount = defaultAccount
    }

    static let stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
    static let iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

    struct QueryError: Error {
        var code: String
        var message: String
        var status = 400
        var type = "Sender"
    }

    public func respond(to request: HTTPRequest, service: String) -> HTTPResponse {
        let requestID = UUID().uuidString.lowercased()
        let namespace = service == "iam" ? Self.iamNamespace : Self.stsNamespace
        do {
            let account: String
            do {
                account = try authenticator.account(for: request, service: service)
            } catch {
                throw QueryError(code: Self.queryCode(error.code), message: error.message, status: error.status == 403 ? 403 : 400)
            }
            let form = Dictionary(
                WireFormats.parseQuery(String(decoding: request.body, as: UTF8.self), plusIsSpace: true).map { ($0.name, $0.value) }
                    + WireFormats.parseQuery(request.query).map { ($0.name, $0.value) },
                uniquingKeysWith: { first, _ in first })
            let action = form["Action"] ?? ""
            var xml = XMLWriter()
            switch (service, action) {
            case ("sts", "GetCallerIdentity"):
                xml.group("GetCallerIdentityResponse", namespace: namespace) { xml in
                    xml.group("GetCallerIdentityResult") { xml in
                        let identity = callerIdentity(request, account: account)
                        xml.element("Arn", identity.arn)
                        xml.element("UserId", identity.userID)
                        xml.element("Account", account)
                    }
                    Self.metadata(&xml, requestID)
                }
            case ("iam", "GetRole"):
                let name = form["RoleName"] ?? ""
                try Self.validateRoleName(name)
                xml.group("GetRoleResponse", namespace: namespace) { xml in
                    xml.group("GetRoleResult") { xml in
                        Self.role(&xml, name: name, account: account)
                    }
                    Self.metadata(&xml, requestID)
                }
            case ("iam", "SimulatePrincipalPolicy"):
                try simulate(form, account: account, requestID: requestID, into: &xml)
            default:
                throw QueryError(
                    code: "InvalidAction",
                    message: action.isEmpty
                        ? "Missing Action parameter."
                        : "Trainyard's \(service.uppercased()) serves \(service == "iam" ? "GetRole and SimulatePrincipalPolicy" : "GetCallerIdentity") only; \(action) is not served.")
            }
            return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "text/xml"), ("x-amzn-RequestId", requestID)]), body: xml.bytes)
        } catch let error as QueryError {
            var xml = XMLWriter()
            xml.group("ErrorResponse", namespace: namespace) { xml in
                xml.group("Error") { xml in
                    xml.element("Type", error.type)
                    xml.element("Code", error.code)
                    xml.element("Message", error.message)
                }
                xml.element("RequestId", requestID)
            }
            return HTTPResponse(
                status: error.status, headers: HTTPHeaders([("Content-Type", "text/xml"), ("x-amzn-RequestId", requestID)]), body: xml.bytes)
        } catch {
            return HTTPResponse(status: 500)
        }
    }

    /// The JSON-protocol codes of the shared authenticator, as the query protocol names them.
    static func queryCode(_ code: String) -> String {
        switch code {
        case "UnrecognizedClientException": "InvalidClientTokenId"
        case "InvalidSignatureException": "SignatureDoesNotMatch"
        case "MissingAuthenticationTokenException": "MissingAuthenticationToken"
        default: code
        }
    }

    static func metadata(_ xml: inout XMLWriter, _ requestID: String) {
        xml.group("ResponseMetadata") { $0.element("RequestId", requestID) }
    }

    /// `--auth none`: the account's root; `--auth sigv4`: an IAM user named after the key's `name`
    /// in the credentials file (or the key id), as GetCallerIdentity reports for an IAM user's key.
    func callerIdentity(_ request: HTTPRequest, account: String) -> (arn: String, userID: String) {
        guard let credentials, let header = request.headers["authorization"],
            let range = header.range(of: "Credential="),
            case let keyID = String(header[range.upperBound...].prefix { $0 != "/" }),
            let entry = credentials.entries[keyID]
        else {
            return ("arn:aws:iam::\(account):root", account)
        }
        let name = entry.name ?? keyID
        return ("arn:aws:iam::\(account):user/\(name)", Self.stableID(prefix: "AIDA", seed: account + "/" + name))
    }

    /// A 21-character IAM unique id (e.g. `AROA...`) derived from a seed: stable across calls.
    static func stableID(prefix: String, seed: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let digest = Array(SHA256.hash(data: Data(seed.utf8)))
        return prefix + String((0..<17).map { alphabet[Int(digest[$0]) % alphabet.count] })
    }

    /// IAM's RoleName: 1-64 of `[\w+=,.@-]`.
    static func validateRoleName(_ name: String) throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_+=,.@-"))
        guard (1...64).contains(name.count), name.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            throw QueryError(
                code: "ValidationError",
                message: "1 validation error detected: Value '\(name)' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
        }
    }

    static let trustPolicy =
        #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#

    static func role(_ xml: inout XMLWriter, name: String, account: String) {
        xml.group("Role") { xml in
            xml.element("Path", "/")
            xml.element("RoleName", name)
            xml.element("RoleId", stableID(prefix: "AROA", seed: account + "/" + name))
            xml.element("Arn", "arn:aws:iam::\(account):role/\(name)")
            xml.element("CreateDate", "2024-01-01T00:00:00Z")
            xml.element("AssumeRolePolicyDocument", WireFormats.uriEncode(trustPolicy, keepingSlashes: false))
            xml.element("MaxSessionDuration", 3600)
        }
    }

    /// Every action allowed, for a principal ARN of the caller's account (NoSuchEntity otherwise:
    /// another account's roles are not the caller's to inspect).
    func simulate(_ form: [String: String], account: String, requestID: String, into xml: inout XMLWriter) throws {
        let principal = form["PolicySourceArn"] ?? ""
        let parts = principal.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "iam" else {
            throw QueryError(code: "InvalidInput", message: "Invalid ARN: \(principal)")
        }
        guard parts[4] == account else {
            throw QueryError(code: "NoSuchEntity", message: "The principal \(principal) is not in the caller's account \(account).", status: 404)
        }
        let actions = Self.members(form, "ActionNames")
        guard !actions.isEmpty else {
            throw QueryError(code: "ValidationError", message: "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
        }
        let resources = Self.members(form, "ResourceArns")
        xml.group("SimulatePrincipalPolicyResponse", namespace: Self.iamNamespace) { xml in
            xml.group("SimulatePrincipalPolicyResult") { xml in
                xml.element("IsTruncated", false)
                xml.group("EvaluationResults") { xml in
                    for action in actions {
                        xml.group("member") { xml in
                            xml.element("EvalActionName", action)
                            xml.element("EvalResourceName", resources.first ?? "*")
                            xml.element("EvalDecision", "allowed")
                            xml.empty("MatchedStatements")
                            xml.empty("MissingContextValues")
                            if !resources.isEmpty {
                                xml.group("ResourceSpecificResults") { xml in
                                    for resource in resources {
                                        xml.group("member") { xml in
                                            xml.element("EvalResourceName", resource)
                                            xml.element("EvalResourceDecision", "allowed")
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Self.metadata(&xml, requestID)
        }
    }

    /// `Name.member.1`, `Name.member.2`, ... in order.
    static func members(_ form: [String: String], _ name: String) -> [String] {
        var values: [String] = []
        var index = 1
        while let value = form["\(name).member.\(index)"] {
            values.append(value)
            index += 1
        }
        return values
    }
}
