import DyDiTKernels
import Foundation

func bench(isa: ISA, threads: Int, m: Int, n: Int, k: Int) {
    let ctx = try! ComputeContext(threads: threads, isa: isa)
    var a = [Float](repeating: 0, count: m * k); for i in a.indices { a[i] = Float((i * 7919) % 1000) / 1000 - 0.5 }
    var w = [Float](repeating: 0, count: n * k); for i in w.indices { w[i] = Float((i * 104729) % 1000) / 1000 - 0.5 }
    let packed = PackedMatrix.packing(w, n: n, k: k, isa: isa)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    var times: [Double] = []
    a.withUnsafeBufferPointer { ap in
        for _ in 0..<40 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            Gemm.linear(ap.baseAddress!, rows: m, weight: packed, bias: nil, out: c, ctx: ctx)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
    }
    times.sort()
    let ms = times[times.count / 2]
    print(isa, threads, m, n, k, "ms", ms, "GFLOP/s", 2.0 * Double(m * n * k) / ms / 1e6)
}
bench(isa: .avx512, threads: 1, m: 256, n: 1152, k: 1152)
bench(isa: .avx512, threads: 1, m: 512, n: 1536, k: 384)
