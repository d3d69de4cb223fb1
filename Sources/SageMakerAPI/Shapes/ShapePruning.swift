extension ShapeTable {
    /// `value` as Coral deserializes it into the shape named `shape`: members the shape does not
    /// define are dropped (Coral ignores unknown members), and so are JSON nulls (Coral reads
    /// `null` as "absent"), at every depth. Without this, a CreateTrainingJob carrying
    /// `"TuningJobArn": ...`, `"WarmPoolStatus": ...` or `"VpcConfig": null` had those echoed by
    /// DescribeTrainingJob, which SageMaker never does.
    /// - Precondition: `value` passed validation against `shape`.
    func pruned(_ value: JSONValue, shape: String) -> JSONValue {
        let model = self.model
        guard let root = model.indexByName[shape] else { return value }
        return Self.prune(value, node: root, model: model) ?? .object([:])
    }

    private static func prune(_ value: JSONValue, node: Int, model: CompiledShapeModel) -> JSONValue? {
        if value.isNull { return nil }
        switch (model.nodes[node], value) {
        case (.structure(let fields), .object(let object)):
            var kept: [String: JSONValue] = [:]
            for field in fields {
                if let member = object[field.name], let prunedMember = prune(member, node: field.node, model: model) {
                    kept[field.name] = prunedMember
                }
            }
            return .object(kept)
        case (.list(let element, _, _), .array(let elements)):
            return .array(elements.compactMap { prune($0, node: element, model: model) })
        case (.map(_, let valueNode, _, _), .object(let object)):
            return .object(object.compactMapValues { prune($0, node: valueNode, model: model) })
        default:
            return value
        }
    }
}
