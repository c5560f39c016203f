import DyDiTIO
import Foundation

/// The table across runs: `summary.csv` and `summary.md` from every complete run folder
/// (all shards), one row per run, the swept values as columns.
public enum Summary {
    static let columns: [(String, String, (JSONValue) -> JSONValue?)] = [
        ("gmacs_per_image", "GMACs / image", { $0["flops"]?["gmacs_per_image"] }),
        ("flops_ratio", "FLOPs ratio", { $0["flops"]?["flops_ratio"] }),
        // Per image, against the dense baseline's sampling run: differs from the per-forward
        // ratio for a fewer-steps sampler (`eval.dense_sampler`).
        ("image_flops_ratio", "FLOPs ratio per image", { $0["flops"]?["image_flops_ratio"] }),
        ("seconds_per_image", "s / image", { $0["latency"]?["seconds_per_image"] }),
        ("dense_seconds_per_image", "dense s / image", { $0["latency"]?["dense_seconds_per_image"] }),
        ("speedup", "speed-up", { $0["latency"]?["speedup"] }),
        // The spread of the per-round speed-ups: a wide one says the machine was busy.
        ("speedup_min", "speed-up min", { $0["latency"]?["speedup_min"] }),
        ("speedup_max", "speed-up max", { $0["latency"]?["speedup_max"] }),
        ("timing_rounds", "rounds", { $0["latency"]?["rounds"] }),
        ("weights_mb", "weights MB", { $0["memory"]?["weight_bytes"]?.doubleValue.map { .double($0 / 1e6) } }),
        ("process_peak_rss_mb", "process peak RSS MB", { $0["memory"]?["process_peak_rss_bytes"]?.doubleValue.map { .double($0 / 1e6) } }),
        ("test_loss_bpd", "test bits/dim", { $0["quality"]?["test_loss_bpd"] }),
        ("test_eps_mse", "test eps MSE", { $0["quality"]?["test_eps_mse"] }),
        ("psnr_vs_dense_db", "PSNR vs dense dB", { $0["quality"]?["psnr_vs_dense_db"] }),
        ("fd", "FD (classifier features)", { $0["quality"]?["fd"] }),
        ("fd_seed_std", "FD std (seeds)", { $0["quality"]?["fd_seed_std"] }),
        ("kid", "KID", { $0["quality"]?["kid"] }),
        ("precision", "precision", { $0["quality"]?["precision"] }),
        ("recall", "recall", { $0["quality"]?["recall"] }),
        ("class_accuracy", "class accuracy", { $0["quality"]?["class_accuracy"] }),
        ("classifier_metrics_images", "images (× seeds)", { q in
            q["quality"]?["classifier_metrics_images"].map { n in .string("\(n.serialized()) × \(q["quality"]?["classifier_metrics_seeds"]?.serialized() ?? "1")") }
        }),
        // Where the times were taken: compare runs of one machine, one build, similar load.
        ("isa", "ISA", { $0["machine"]?["isa"] }),
        ("threads", "threads", { $0["machine"]?["threads"] }),
        ("load_average_1m", "load 1 min", { $0["machine"]?["load_average_at_start"]?.arrayValue?.first }),
        ("git_commit", "commit", { $0["machine"]?["git_commit"]?.stringValue.map { .string(String($0.prefix(12))) } }),
    ]

    /// Writes both files into the store's folder; returns the number of runs. With `name`, only
    /// the runs of that experiment (a folder may hold several).
    @discardableResult
    public static func write(_ store: RunStore, name: String? = nil) throws -> Int {
        let runs = store.completedRuns().filter { name == nil || $0.spec["name"]?.stringValue == name }
        var swept: [String] = []
        for r in runs {
            for key in r.metrics["overrides"]?.objectValue?.keys ?? [] where !swept.contains(key) { swept.append(key) }
        }
        func cell(_ v: JSONValue?, digits: Int = 4) -> String {
            guard let v, v != .null else { return "" }
            if case let .double(d) = v { return String(format: "%.\(digits)g", d) }
            return v.stringValue ?? v.serialized()
        }
        // The CSV keeps every column (tools read it by name); the table a person reads leaves
        // out the metrics no run measured.
        let table = runs.map { r in columns.map { cell($0.2(r.metrics)) } }
        let shown = columns.indices.filter { c in table.contains { !$0[c].isEmpty } }
        var csv = (["run"] + swept + columns.map(\.0)).joined(separator: ",") + "\n"
        var md = "| " + (["run"] + swept + shown.map { columns[$0].1 }).joined(separator: " | ") + " |\n"
        md += "|" + String(repeating: "---|", count: 1 + swept.count + shown.count) + "\n"
        for (r, values) in zip(runs, table) {
            let sweptCells = swept.map { cell(r.metrics["overrides"]?[$0]) }
            csv += ([r.id] + sweptCells + values).map(csvField).joined(separator: ",") + "\n"
            md += "| " + ([r.id] + sweptCells + shown.map { values[$0] }).joined(separator: " | ") + " |\n"
        }
        if runs.contains(where: { $0.metrics["random_init"]?.boolValue == true }) {
            md += "\nRuns marked random_init used randomly initialised weights: their samples are noise; FLOPs, time and memory are real.\n"
        }
        let unfinished = incomplete(store, name: name)
        if !unfinished.isEmpty {
            md += "\n**Not in the table** (\(unfinished.count) run(s) without results):\n\n| run | why |\n|---|---|\n"
            for r in unfinished { md += "| \(r.id) | \(r.reason.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")) |\n" }
        }
        try AtomicFile.write(csv, to: "\(store.directory)/summary.csv")
        try AtomicFile.write(md, to: "\(store.directory)/summary.md")
        return runs.count
    }

    /// The runs of `store` (of experiment `name`, when given) that began and have no results.
    public static func incomplete(_ store: RunStore, name: String? = nil) -> [(id: String, reason: String)] {
        store.incompleteRuns().filter { name == nil || $0.spec?["name"]?.stringValue == name }.map { ($0.id, $0.reason) }
    }

    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
