/// The generated shape tables a ``ShapeValidator`` can validate against, one per service model
/// (`scripts/codegen/generate_shapes.py`). Each table is compiled once per process, on first use.
public enum ShapeTable: Sendable, CaseIterable {
    /// ``SageMakerShapes`` (`SageMaker.<Operation>`).
    case sageMaker
    /// ``CloudWatchLogsShapes`` (`Logs_20140328.<Operation>`).
    case cloudWatchLogs

    var model: CompiledShapeModel {
        switch self {
        case .sageMaker: Self.sageMakerModel
        case .cloudWatchLogs: Self.cloudWatchLogsModel
        }
    }

    var patterns: [JavaPattern?] {
        switch self {
        case .sageMaker: Self.sageMakerPatterns
        case .cloudWatchLogs: Self.cloudWatchLogsPatterns
        }
    }

    private static let sageMakerModel = CompiledShapeModel(
        roots: SageMakerShapes.shapeNames,
        resolve: SageMakerShapes.named
    )
    private static let sageMakerPatterns = compilePatterns(of: sageMakerModel)

    private static let cloudWatchLogsModel = CompiledShapeModel(
        roots: CloudWatchLogsShapes.shapeNames,
        resolve: CloudWatchLogsShapes.named
    )
    private static let cloudWatchLogsPatterns = compilePatterns(of: cloudWatchLogsModel)

    /// Each distinct pattern text is compiled once.
    private static func compilePatterns(of model: CompiledShapeModel) -> [JavaPattern?] {
        var cache: [String: JavaPattern?] = [:]
        return model.nodes.map { node -> JavaPattern? in
            guard case .string(let rules) = node, let pattern = rules.pattern else { return nil }
            if let compiled = cache[pattern] { return compiled }
            let compiled = JavaPattern(pattern)
            cache[pattern] = compiled
            return compiled
        }
    }
}
