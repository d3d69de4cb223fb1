// EmbedMigrations: a build-tool plugin that turns <package root>/Migrations/*.sql into
// one generated Swift file in the target it is applied to:
//
//     let embeddedMigrations: [(version: Int, name: String, sql: String)]
//
// The work is done by EmbedMigrationsTool; this file only declares the command.
//
// Why the inputs look the way they do (verified with SwiftPM 6.3 / native build system):
// SwiftPM calls createBuildCommands only when it re-plans the build, i.e. when
// Package.swift or the *set* of files in a target's source directory changes — not when
// something changes under Migrations/. So whatever list of .sql files we declare here
// goes stale as soon as a migration is added, and:
//   - a file added since the last plan is not an input, so later edits to it are missed;
//   - a declared file that is renamed or deleted fails the build ("missing inputs")
//     until something else forces a re-plan.
// Instead the command declares only (a) the Migrations directory, whose modification
// time changes when a file is added, removed or renamed, and (b) a stamp file that the
// tool rewrites on every run. (b) makes llbuild run the tool on every build (~10 ms);
// the tool scans the directory itself and rewrites the generated Swift file only when
// its content changes, so an unchanged build recompiles nothing.
import Foundation
import PackagePlugin

@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let migrations = context.package.directoryURL.appending(path: "Migrations", directoryHint: .isDirectory)
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        let stamp = context.pluginWorkDirectoryURL.appending(path: "EmbedMigrations.stamp")

        // An input must exist when the build starts, or llbuild refuses to run the command.
        try FileManager.default.createDirectory(at: context.pluginWorkDirectoryURL, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: stamp.path) {
            try Data().write(to: stamp)
        }

        var inputs = [stamp]
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: migrations.path, isDirectory: &isDirectory), isDirectory.boolValue {
            inputs.append(migrations)
        }

        return [
            .buildCommand(
                displayName: "Embedding Migrations/*.sql into \(target.name)",
                executable: try context.tool(named: "EmbedMigrationsTool").url,
                arguments: [migrations.path, output.path, stamp.path],
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
