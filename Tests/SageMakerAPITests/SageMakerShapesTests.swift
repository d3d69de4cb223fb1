import Testing
import TrainingCore

@testable import SageMakerAPI

@Suite("SageMakerShapes")
struct SageMakerShapesTests {
    @Test("generated from botocore 1.43.11")
    func version() {
        #expect(SageMakerShapes.botocoreVersion == "1.43.11")
    }

    @Test("every TrainingInstanceType of the model has a row in the instance type table, but the unchecked ones")
    func instanceTypesCovered() throws {
        guard case .string(_, _, _, let values?) = try #require(SageMakerShapes.named("TrainingInstanceType")) else {
            Issue.record("TrainingInstanceType is not an enum")
            return
        }
        // No published spec was found to check these against (InstanceTypes.swift).
        let unchecked = ["ml.g7e.", "ml.p6e-gb200.", "ml.p6-b300."]
        let missing = values.filter { name in InstanceType.named(name) == nil && !unchecked.contains { name.hasPrefix($0) } }
        #expect(missing.isEmpty, "\(missing)")
    }

    @Test("every listed shape resolves, and every shape it refers to is listed")
    func closure() {
        let names = Set(SageMakerShapes.shapeNames)
        #expect(names.count == SageMakerShapes.shapeNames.count)
        #expect(SageMakerShapes.named("NoSuchShape") == nil)
        for name in SageMakerShapes.shapeNames {
            guard let shape = SageMakerShapes.named(name) else {
                Issue.record("\(name) does not resolve")
                continue
            }
            var referenced: [String] = []
            switch shape {
            case .structure(let members, let required):
                referenced = members.values.map(\.shape)
                for member in required { #expect(members[member] != nil, "\(name).\(member)") }
                let positions = members.values.map(\.position).sorted()
                #expect(positions == Array(0..<members.count), "\(name)")
            case .list(let member, _, _):
                referenced = [member]
            case .map(let key, let value, _, _):
                referenced = [key, value]
            default:
                break
            }
            for reference in referenced { #expect(names.contains(reference), "\(name) → \(reference)") }
        }
    }

    @Test("shapes carry the model's constraints")
    func constraints() {
        guard case .string(let min, let max, let pattern, let enumValues) = SageMakerShapes.named("TrainingJobName")
        else {
            Issue.record("TrainingJobName is not a string")
            return
        }
        #expect(min == 1 && max == 63 && pattern == "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}" && enumValues == nil)
        guard case .integer(let low, let high) = SageMakerShapes.named("MaxResults") else {
            Issue.record("MaxResults is not an integer")
            return
        }
        #expect(low == 1 && high == 100)
        guard case .string(_, _, _, let statuses) = SageMakerShapes.named("TrainingJobStatus") else {
            Issue.record("TrainingJobStatus is not a string")
            return
        }
        #expect(statuses == ["InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting"])
        guard case .map(let key, let value, 0, 100) = SageMakerShapes.named("HyperParameters") else {
            Issue.record("HyperParameters is not a map of 0..100")
            return
        }
        #expect(key == "HyperParameterKey" && value == "HyperParameterValue")
        if case .timestamp = SageMakerShapes.named("Timestamp") {} else { Issue.record("Timestamp") }
        if case .double = SageMakerShapes.named("Float") {} else { Issue.record("Float") }
        if case .integer = SageMakerShapes.named("Seed") {} else { Issue.record("Seed (long)") }
    }

    @Test("structure members in model order, required in model order")
    func memberOrder() throws {
        let shape = try #require(SageMakerShapes.named("CreateTrainingJobRequest"))
        let order = shape.orderedMembers.map(\.name)
        #expect(Array(order.prefix(4)) == ["TrainingJobName", "HyperParameters", "AlgorithmSpecification", "RoleArn"])
        guard case .structure(_, let required) = shape else { return }
        #expect(required == ["TrainingJobName", "RoleArn", "OutputDataConfig"])
    }
}
