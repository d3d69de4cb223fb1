import JobStore
import TrainingCore

extension TrainingJobOperations {
    /// The job a `ResourceArn` names, if it is one of the caller's training jobs in this region.
    func taggedJobName(_ input: JSONValue, _ context: RequestContext) throws -> String {
        let arn = input["ResourceArn"]?.stringValue ?? ""
        let prefix = "arn:aws:sagemaker:\(context.region):\(context.account):training-job/"
        guard arn.hasPrefix(prefix) else { throw AWSServiceError.resourceNotFound }
        return String(arn.dropFirst(prefix.count))
    }

    func addTags(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        let name = try taggedJobName(input, context)
        let tags = (input["Tags"]?.arrayValue ?? []).compactMap { tag -> (key: String, value: String)? in
            guard let key = tag["Key"]?.stringValue else { return nil }
            return (key, tag["Value"]?.stringValue ?? "")
        }
        try store.addTags(account: context.account, name: name, tags: tags, limit: Self.maximumTags)
        return .value(.object(["Tags": .array(tags.map { .object(["Key": .string($0.key), "Value": .string($0.value)]) })]))
    }

    func listTags(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        let name = try taggedJobName(input, context)
        guard let tags = try store.tags(account: context.account, name: name) else { throw AWSServiceError.resourceNotFound }
        let limit = Int(input["MaxResults"]?.int64Value ?? 50)
        let scope = "ListTags|\(context.account)|\(name)"
        var offset = 0
        if let token = input["NextToken"]?.stringValue, !token.isEmpty {
            offset = try tokens.open(token, as: Int.self, scope: scope)
        }
        let page = tags.dropFirst(offset).prefix(limit)
        var output: [String: JSONValue] = [
            "Tags": .array(page.map { .object(["Key": .string($0.key), "Value": .string($0.value)]) })
        ]
        if offset + page.count < tags.count {
            output["NextToken"] = .string(tokens.seal(offset + page.count, scope: scope))
        }
        return .value(.object(output))
    }

    func deleteTags(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        let name = try taggedJobName(input, context)
        let keys = (input["TagKeys"]?.arrayValue ?? []).compactMap(\.stringValue)
        try store.deleteTags(account: context.account, name: name, keys: keys)
        return .value(.object([:]))
    }
}
