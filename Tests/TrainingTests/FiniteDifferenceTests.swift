import DyDiTIO
import DyDiTKernels
import DyDiTModels
import DyDiTTraining
import XCTest

/// The backward pass against central differences of the loss, on tiny random DiTs, for every
/// trainable tensor. The MSE objective (learn_sigma off) is used because the hybrid loss
/// detaches eps inside its VLB term on purpose, so its gradient is not the derivative of its
/// value.
final class FiniteDifferenceTests: XCTestCase {
    func testGradientsMatchCentralDifferences() throws {
        let configs = [
            DiTConfig(inputSize: 8, patchSize: 2, inChannels: 2, hiddenSize: 32, depth: 2, numHeads: 2, numClasses: 3,
                      learnSigma: false),
            DiTConfig(inputSize: 6, patchSize: 3, inChannels: 1, hiddenSize: 24, depth: 1, numHeads: 3, numClasses: 2,
                      learnSigma: false, mlpRatio: 2),
        ]
        let loss = try HybridLoss(learnSigma: false)
        let objective = TrainingObjective(loss: loss)
        var rng = RandomGenerator(seed: 7)
        for (ci, c) in configs.enumerated() {
            let model = try TrainableDiT(DiTParameters.initialized(c, seed: UInt64(ci), .random),
                                         ctx: try ComputeContext(threads: 1))
            let batch = 3
            let x0 = rng.normals(batch * c.imageSize), noise = rng.normals(batch * c.imageSize)
            let t = (0..<batch).map { _ in rng.below(1000) }
            let y = (0..<batch).map { _ in rng.below(c.numClasses + 1) }
            model.gradients.zero()
            _ = objective.accumulate(model: model, x0: x0, t: t, noise: noise, y: y)
            func lossValue() -> Double {
                let saved = model.gradients.zerosLike()
                saved.copy(from: model.gradients)
                defer { model.gradients.copy(from: saved) }
                return objective.accumulate(model: model, x0: x0, t: t, noise: noise, y: y).diffusion
            }
            for e in model.parameters.entries where e.trainable {
                let g = model.gradients[e.name].map { Double($0) }
                let gNorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard gNorm > 0 else {
                    XCTFail("config \(ci): '\(e.name)' has a zero gradient; the test model should reach every tensor")
                    continue
                }
                // Half along the gradient, half random: a direction in which the slope is large
                // enough to measure, while errors off the gradient's direction still show.
                let r = (0..<e.count).map { _ in Double(rng.normal()) }
                let rNorm = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
                var v = zip(g, r).map { $0 / gNorm + $1 / rNorm }
                let vNorm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                v = v.map { $0 / vNorm }
                let analytic = zip(g, v).reduce(0) { $0 + $1.0 * $1.1 }
                let theta = model.parameters[e.name]
                let h = 3e-2
                model.parameters[e.name] = zip(theta, v).map { Float(Double($0) + h * $1) }
                let plus = lossValue()
                model.parameters[e.name] = zip(theta, v).map { Float(Double($0) - h * $1) }
                let minus = lossValue()
                model.parameters[e.name] = theta
                let numeric = (plus - minus) / (2 * h)
                let error = abs(numeric - analytic) / gNorm
                print(String(format: "config %d %@: slope %.6e, central difference %.6e, error / |g| = %.2e",
                             ci, e.name, analytic, numeric, error))
                // O(h²) truncation plus the float32 rounding of the loss (~1e-7·L / h): both under 1e-3·|g|
                // for h = 3e-2 on these models (1e-2 lets rounding reach it on the smallest gradients).
                XCTAssertLessThan(error, 1e-3, "config \(ci): '\(e.name)'")
            }
        }
    }
}
