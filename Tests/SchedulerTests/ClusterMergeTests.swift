import Foundation
import Testing

@testable import Scheduler

/// The outputs of a job's hosts merged into one folder before packing: every entry is opened from
/// its parent's descriptor without following links (issue 12: the merge copied by path).
@Suite("Cluster output merge")
struct ClusterMergeTests {
    @Test("hosts' folders merge with the lower algo-N winning; links and FIFOs are skipped, never followed")
    func mergeSkipsLinksAndKeepsTheFirst() throws {
        let scratch = try Scratch()
        try scratch.file("secret/shadow", "host secret")
        try scratch.file("algo-1/model/weights.bin", "one")
        try scratch.file("algo-1/model/sub/a.bin", "a")
        try scratch.link("algo-1/model/shadow", to: scratch.path("secret/shadow"))
        try scratch.file("algo-2/model/weights.bin", "two")
        try scratch.file("algo-2/model/extra.bin", "x")
        // A folder of the lower host's name is a link on this one: not followed, not merged in.
        try scratch.link("algo-2/model/sub", to: scratch.path("secret"))
        try scratch.link("algo-2/model/host-folder", to: scratch.path("secret"))
        try scratch.fifo("algo-2/model/fifo")
        // A host whose model folder is itself a link adds nothing.
        try scratch.folder("algo-3")
        try scratch.link("algo-3/model", to: scratch.path("secret"))

        let target = try SafeDirectory.openRoot(scratch.path("merged/model"), create: true)
        var skipped: [String] = []
        for host in ["algo-1", "algo-2", "algo-3"] {
            try LocalWorkspaces.merge(
                "model", of: URL(fileURLWithPath: scratch.path(host)), into: target, skipped: { path, _ in skipped.append(path) })
        }
        let merged = LocalWorkspaces.regularFiles(beneath: URL(fileURLWithPath: scratch.path("merged/model"))).sorted()
        #expect(merged == ["extra.bin", "sub/a.bin", "weights.bin"])
        #expect(try String(contentsOfFile: scratch.path("merged/model/weights.bin"), encoding: .utf8) == "one")
        #expect(skipped.sorted() == ["model/fifo", "model/host-folder", "model/shadow", "model/sub"])
        let names = try FileManager.default.contentsOfDirectory(atPath: scratch.path("merged/model")).sorted()
        #expect(names == ["extra.bin", "sub", "weights.bin"])
    }
}
