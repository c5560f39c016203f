import DyDiTEvaluation
import DyDiTIO
import DyDiTKernels
import ReferenceSupport
import XCTest

/// The metrics against numpy/scipy (and 50-digit mpmath where scipy's sqrtm is unreliable) on
/// the same features: `Tests/Fixtures/metrics/metric_cases.safetensors`, made by
/// `scripts/metrics/make_metric_cases.py`.
final class MetricReferenceTests: XCTestCase {
    static var fixture: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/metrics/metric_cases.safetensors").path
    }

    func features(_ file: SafeTensorsFile, _ key: String) throws -> FeatureSet {
        let t = try file.tensor(key)
        return FeatureSet(t.doubles(), dim: t.shape[1])
    }

    func testAgainstNumpyAndScipy() throws {
        let file = try SafeTensorsFile(path: Self.fixture)
        let cases = Set(file.names.map { String($0.split(separator: "/")[0]) }).sorted()
        XCTAssertEqual(cases, ["full_rank", "identical", "ill", "wide"])
        let ctx = try ComputeContext(threads: 2)
        for name in cases {
            let x = try features(file, "\(name)/x"), y = try features(file, "\(name)/y")
            let fd = FrechetDistance.distance(.init(x), .init(y))
            let want = try file.tensor("\(name)/fd").doubles()[0]
            if name == "identical" {
                let scale = FrechetDistance.Gaussian(x).covariance.enumerated().filter { $0.offset % (x.dim + 1) == 0 }.reduce(0) { $0 + $1.element }
                assertClose(fd, 0, absolute: 1e-10 * scale, "identical sets: FD \(fd)")
            } else {
                assertClose(fd, want, relative: 1e-6, "\(name) FD")
            }
            print("\(name): FD \(fd), reference \(want)")
            if file.contains("\(name)/kid") {
                let kid = KernelDistance.mmd(x, y, ctx: ctx)
                assertClose(kid, try file.tensor("\(name)/kid").doubles()[0], relative: 1e-6, "\(name) KID")
                // The same through `compute`: one subset of every image is the whole-set MMD.
                var s = KernelDistance.Settings()
                s.subsets = 3
                s.subsetSize = x.count
                let r = KernelDistance.compute(y, x, s, ctx: ctx)
                assertClose(r.mean, kid, relative: 1e-12, "\(name) KID through subsets of everything")
                assertClose(r.std, 0, absolute: 1e-9 * abs(kid), "\(name) KID std of identical subsets")
            }
            if file.contains("\(name)/precision") {
                let pr = PrecisionRecall.compute(real: y, fake: x, k: 3, ctx: ctx)
                XCTAssertEqual(pr.precision, try file.tensor("\(name)/precision").doubles()[0], "\(name) precision")
                XCTAssertEqual(pr.recall, try file.tensor("\(name)/recall").doubles()[0], "\(name) recall")
            }
        }
    }

    /// Gaussians with known moments: FD = |μ₁ − μ₂|² + tr A + tr B − 2 tr (A^½ B A^½)^½, where
    /// for 2×2 matrices tr √M = √(tr M + 2 √det M); and diagonal covariances give Σ (σ₁ − σ₂)².
    func testClosedFormGaussians() {
        // Non-commuting 2×2 covariances.
        let a = [2.0, 0.6, 0.6, 1.0], b = [1.0, -0.3, -0.3, 0.5]
        let g1 = FrechetDistance.Gaussian(mean: [1, 2], covariance: a), g2 = FrechetDistance.Gaussian(mean: [0, 2.5], covariance: b)
        // M = A^½ B A^½ has tr M = tr(AB) and det M = det A · det B.
        let trAB = a[0] * b[0] + a[1] * b[2] + a[2] * b[1] + a[3] * b[3]
        let det = (a[0] * a[3] - a[1] * a[2]) * (b[0] * b[3] - b[1] * b[2])
        let want = 1 + 0.25 + (a[0] + a[3]) + (b[0] + b[3]) - 2 * (trAB + 2 * det.squareRoot()).squareRoot()
        assertClose(FrechetDistance.distance(g1, g2), want, relative: 1e-12, "2×2 closed form")
        assertClose(FrechetDistance.distance(g2, g1), want, relative: 1e-12, "symmetric")
        // Diagonal, one of them singular.
        let s1 = [4.0, 1, 0, 9], s2 = [1.0, 1, 2, 0]
        let diag = { (s: [Double]) in (0..<4).flatMap { i in (0..<4).map { j in i == j ? s[i] : 0 } } }
        let want2 = zip(s1, s2).reduce(0) { $0 + ($1.0.squareRoot() - $1.1.squareRoot()) * ($1.0.squareRoot() - $1.1.squareRoot()) }
        let d = FrechetDistance.distance(.init(mean: [0, 0, 0, 0], covariance: diag(s1)), .init(mean: [0, 0, 0, 0], covariance: diag(s2)))
        assertClose(d, want2, relative: 1e-12, "diagonal closed form")
    }

    func testFewerSamplesThanFeaturesStaysFinite() {
        var rng = RandomGenerator(seed: 3)
        let x = FeatureSet(rng.normals(5 * 300), dim: 300), y = FeatureSet(rng.normals(7 * 300), dim: 300)
        let fd = FrechetDistance.distance(.init(x), .init(y))
        XCTAssertTrue(fd.isFinite && fd > 0, "FD \(fd)")
    }
}
