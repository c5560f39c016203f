/// The arithmetic of training's linear-layer products (`train.products`).
public enum TrainingProducts: String, Sendable, CaseIterable {
    /// fp32 operands and sums: the official code's arithmetic, the default.
    case fp32
    /// Both operands rounded to bf16 at each product's input, sums in fp32 (AMX or `vdpbf16ps`
    /// where the CPU has them); parameters, optimiser state, gradients' sums, attention,
    /// norms and the loss stay fp32. What PyTorch's bf16 autocast does to `nn.Linear`.
    case bf16
}
