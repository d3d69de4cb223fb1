// Built by generate_shapes.py together with Sources/SageMakerAPI/Shapes/JavaPattern.swift:
// reads one pattern per line on stdin and prints, per line, the engine that compiles it
// ("Swift Regex", "NSRegularExpression") or "none".
while let line = readLine(strippingNewline: true) {
    if let pattern = JavaPattern(line) {
        print(pattern.engine.rawValue)
    } else {
        print("none")
    }
}
