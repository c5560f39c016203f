import Foundation

/// Eigenvalues and eigenvectors of a real symmetric matrix, in Double: Householder
/// reduction to tridiagonal form, then the implicit QL algorithm with Wilkinson-style shifts
/// (EISPACK's `tred2` and `tql2`, as JAMA writes them). O(n³), and accurate for rank-deficient
/// and ill-conditioned matrices (tiny and zero eigenvalues come out tiny, not negative by more
/// than rounding), which the Fréchet distance needs when there are fewer samples than features.
/// `JacobiEigen` is the independent scalar reference the tests hold it against.
public struct SymmetricEigen {
    /// Ascending eigenvalues.
    public let values: [Double]
    /// Eigenvectors as columns of an n×n row-major matrix: column j belongs to `values[j]`.
    public let vectors: [Double]
    public let n: Int

    /// `a`: n×n row-major, symmetric (only symmetric input is meaningful; the lower triangle is read).
    public init(_ a: [Double], n: Int) {
        precondition(a.count == n * n, "\(a.count) values for a \(n)×\(n) matrix")
        self.n = n
        guard n > 0 else { values = []; vectors = []; return }
        var v = a, d = [Double](repeating: 0, count: n), e = [Double](repeating: 0, count: n)
        v.withUnsafeMutableBufferPointer { vp in
            Self.tridiagonalize(vp.baseAddress!, n, &d, &e)
            Self.ql(vp.baseAddress!, n, &d, &e)
        }
        values = d
        vectors = v
    }

    /// Householder reduction (tred2): `v` becomes the accumulated transformation, `d` the
    /// diagonal and `e` the sub-diagonal (e[0] = 0).
    private static func tridiagonalize(_ v: UnsafeMutablePointer<Double>, _ n: Int, _ d: inout [Double], _ e: inout [Double]) {
        @inline(__always) func at(_ i: Int, _ j: Int) -> UnsafeMutablePointer<Double> { v + i * n + j }
        for j in 0..<n { d[j] = at(n - 1, j).pointee }
        for i in stride(from: n - 1, to: 0, by: -1) {
            var scale = 0.0, h = 0.0
            for k in 0..<i { scale += abs(d[k]) }
            if scale == 0 {
                e[i] = d[i - 1]
                for j in 0..<i {
                    d[j] = at(i - 1, j).pointee
                    at(i, j).pointee = 0
                    at(j, i).pointee = 0
                }
            } else {
                for k in 0..<i {
                    d[k] /= scale
                    h += d[k] * d[k]
                }
                var f = d[i - 1]
                var g = h.squareRoot()
                if f > 0 { g = -g }
                e[i] = scale * g
                h -= f * g
                d[i - 1] = f - g
                for j in 0..<i { e[j] = 0 }
                for j in 0..<i {
                    f = d[j]
                    at(j, i).pointee = f
                    g = e[j] + at(j, j).pointee * f
                    if j + 1 <= i - 1 {
                        for k in (j + 1)...(i - 1) {
                            g += at(k, j).pointee * d[k]
                            e[k] += at(k, j).pointee * f
                        }
                    }
                    e[j] = g
                }
                f = 0
                for j in 0..<i {
                    e[j] /= h
                    f += e[j] * d[j]
                }
                let hh = f / (h + h)
                for j in 0..<i { e[j] -= hh * d[j] }
                for j in 0..<i {
                    f = d[j]
                    g = e[j]
                    for k in j...(i - 1) { at(k, j).pointee -= (f * e[k] + g * d[k]) }
                    d[j] = at(i - 1, j).pointee
                    at(i, j).pointee = 0
                }
            }
            d[i] = h
        }
        // Accumulate the transformations.
        for i in 0..<(n - 1) {
            at(n - 1, i).pointee = at(i, i).pointee
            at(i, i).pointee = 1
            let h = d[i + 1]
            if h != 0 {
                for k in 0...i { d[k] = at(k, i + 1).pointee / h }
                for j in 0...i {
                    var g = 0.0
                    for k in 0...i { g += at(k, i + 1).pointee * at(k, j).pointee }
                    for k in 0...i { at(k, j).pointee -= g * d[k] }
                }
            }
            for k in 0...i { at(k, i + 1).pointee = 0 }
        }
        for j in 0..<n {
            d[j] = at(n - 1, j).pointee
            at(n - 1, j).pointee = 0
        }
        at(n - 1, n - 1).pointee = 1
        e[0] = 0
    }

    /// Implicit QL on the tridiagonal form (tql2), then an ascending sort of the pairs.
    private static func ql(_ v: UnsafeMutablePointer<Double>, _ n: Int, _ d: inout [Double], _ e: inout [Double]) {
        @inline(__always) func at(_ i: Int, _ j: Int) -> UnsafeMutablePointer<Double> { v + i * n + j }
        for i in 1..<max(n, 1) { e[i - 1] = e[i] }
        e[n - 1] = 0
        var f = 0.0, tst1 = 0.0
        let eps = pow(2.0, -52.0)
        for l in 0..<n {
            tst1 = max(tst1, abs(d[l]) + abs(e[l]))
            var m = l
            while m < n {
                if abs(e[m]) <= eps * tst1 { break }
                m += 1
            }
            if m > l {
                var iterations = 0
                repeat {
                    iterations += 1
                    precondition(iterations < 200, "the QL iteration did not converge (non-finite input?)")
                    var g = d[l]
                    var p = (d[l + 1] - g) / (2 * e[l])
                    var r = hypot(p, 1)
                    if p < 0 { r = -r }
                    d[l] = e[l] / (p + r)
                    d[l + 1] = e[l] * (p + r)
                    let dl1 = d[l + 1]
                    var h = g - d[l]
                    for i in (l + 2)..<max(n, l + 2) { d[i] -= h }
                    f += h
                    p = d[m]
                    var c = 1.0, c2 = c, c3 = c
                    let el1 = e[l + 1]
                    var s = 0.0, s2 = 0.0
                    for i in stride(from: m - 1, through: l, by: -1) {
                        c3 = c2
                        c2 = c
                        s2 = s
                        g = c * e[i]
                        h = c * p
                        r = hypot(p, e[i])
                        e[i + 1] = s * r
                        s = e[i] / r
                        c = p / r
                        p = c * d[i] - s * g
                        d[i + 1] = h + s * (c * g + s * d[i])
                        for k in 0..<n {
                            h = at(k, i + 1).pointee
                            at(k, i + 1).pointee = s * at(k, i).pointee + c * h
                            at(k, i).pointee = c * at(k, i).pointee - s * h
                        }
                    }
                    p = -s * s2 * c3 * el1 * e[l] / dl1
                    e[l] = s * p
                    d[l] = c * p
                } while abs(e[l]) > eps * tst1
            }
            d[l] += f
            e[l] = 0
        }
        // Selection sort of the eigenpairs, ascending.
        for i in 0..<(n - 1) {
            var k = i
            var p = d[i]
            for j in (i + 1)..<n where d[j] < p {
                k = j
                p = d[j]
            }
            if k != i {
                d[k] = d[i]
                d[i] = p
                for j in 0..<n { swap(&at(j, i).pointee, &at(j, k).pointee) }
            }
        }
    }
}

/// The scalar reference eigensolver: cyclic Jacobi rotations until the off-diagonal mass
/// vanishes. Slow (many sweeps of O(n³)) but simple enough to trust; tests compare
/// `SymmetricEigen` with it.
public enum JacobiEigen {
    /// Ascending eigenvalues of the symmetric n×n row-major `a`.
    public static func values(_ a: [Double], n: Int) -> [Double] {
        var m = a
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<n { for j in 0..<n where i != j { off += m[i * n + j] * m[i * n + j] } }
            var diag = 0.0
            for i in 0..<n { diag += m[i * n + i] * m[i * n + i] }
            if off <= 1e-30 * max(diag, 1e-300) { break }
            for p in 0..<n {
                for q in (p + 1)..<max(n, p + 1) {
                    let apq = m[p * n + q]
                    if apq == 0 { continue }
                    let theta = (m[q * n + q] - m[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = m[k * n + p], akq = m[k * n + q]
                        m[k * n + p] = c * akp - s * akq
                        m[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = m[p * n + k], aqk = m[q * n + k]
                        m[p * n + k] = c * apk - s * aqk
                        m[q * n + k] = s * apk + c * aqk
                    }
                }
            }
        }
        return (0..<n).map { m[$0 * n + $0] }.sorted()
    }
}
