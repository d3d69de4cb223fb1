extension SageMakerShapes {
    /// The service model's `TrainingInstanceType` values: every instance type CreateTrainingJob
    /// accepts (for checking configuration such as `--instance-quota`).
    public static var trainingInstanceTypes: [String] {
        guard case .string(_, _, _, let values?) = named("TrainingInstanceType") else { return [] }
        return values
    }
}
