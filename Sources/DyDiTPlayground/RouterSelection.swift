import DyDiTIO
import DyDiTModels

/// Routers named on a command line (`dydit sample --routers tdw,sdt`), chosen from the same
/// registry and checked by the same option rules as a spec's `routers` section, so a router
/// registered once is usable everywhere.
public struct RouterSelection {
    public let width: ExperimentSpec.PluginChoice
    public let token: ExperimentSpec.PluginChoice

    /// `list`: comma-separated names; `width:NAME` or `token:NAME` picks one kind, a bare name
    /// registered as both (random, static, none) sets both. `shortcuts`: option values for
    /// whichever chosen router declares them (flags such as `--width-keep`); `explicit`: options
    /// the user named per kind (`--router-option width.keep=0.3`), an error where the router
    /// has no such option.
    public init(_ list: String, shortcuts: (width: JSONObject, token: JSONObject) = (JSONObject(), JSONObject()),
                explicit: (width: JSONObject, token: JSONObject) = (JSONObject(), JSONObject()),
                source: String = "--routers") throws {
        var width: String?, token: String?
        func set(_ slot: inout String?, _ name: String, _ kind: String) throws {
            if let other = slot, other != name, other != "none", name != "none" {
                let what = kind == "token" ? "both decide the MLP tokens" : "both decide the width"
                throw ModelError.badInput("\(source): \(other) and \(name) \(what); pick one")
            }
            if slot == nil || slot == "none" { slot = name }
        }
        let allNames = Registry.widthRouterNames.map { "width:\($0)" } + Registry.tokenRouterNames.map { "token:\($0)" }
            + Array(Set(Registry.widthRouterNames + Registry.tokenRouterNames)).sorted()
        for raw in list.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces)
            let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
            let kind = parts.count == 2 ? parts[0] : nil, bare = parts.last ?? ""
            let isWidth = Registry.widthRouter(bare) != nil && kind != "token"
            let isToken = Registry.tokenRouter(bare) != nil && kind != "width"
            guard (kind == nil || kind == "width" || kind == "token") && (isWidth || isToken) else {
                let hint = closest(to: name, in: allNames).map { " (did you mean '\($0)'?)" } ?? ""
                throw ModelError.badInput("\(source): unknown router '\(name)'\(hint); width routers: \(Registry.widthRouterNames.joined(separator: ", ")); token routers: \(Registry.tokenRouterNames.joined(separator: ", ")) (comma-separated; width:NAME or token:NAME picks one kind)")
            }
            if isWidth { try set(&width, bare, "width") }
            if isToken { try set(&token, bare, "token") }
        }
        let d = SpecDecoder(file: source, locator: nil)
        func choice(_ name: String, _ kind: String, _ short: JSONObject, _ given: JSONObject,
                    names: [String], options: @escaping (String) -> [PluginOption]) -> ExperimentSpec.PluginChoice {
            var object = JSONObject([("type", .string(name))])
            let declared = options(name)
            for (key, value) in short where declared.contains(where: { $0.name == key }) { object[key] = value }
            for (key, value) in given { object[key] = value }
            return ExperimentSpec.plugin(.object(object), kind, d, default: "none", names: names, options: options)
        }
        let w = width ?? "none", t = token ?? "none"
        self.width = choice(w, "width", shortcuts.width, explicit.width,
                            names: Registry.widthRouterNames, options: Registry.widthRouterOptions)
        self.token = choice(t, "token", shortcuts.token, explicit.token,
                            names: Registry.tokenRouterNames, options: Registry.tokenRouterOptions)
        if !d.issues.isEmpty {
            throw ModelError.badInput(d.issues.map { "\($0.file) \($0.path): \($0.message)" }.joined(separator: "; "))
        }
    }

    /// The routers, built by their plug-ins over `context` (the checkpoint's router weights).
    public func make(_ context: PluginContext) throws -> Routing {
        let (w, t) = try Registry.makeRouters(width: width, token: token, context)
        return Routing(width: w, token: t)
    }

    /// Whether a chosen router learns from the checkpoint's router weights.
    public var usesLearnedRouters: Bool {
        (Registry.widthRouter(width.type)?.readsCheckpointRouters ?? false) || (Registry.tokenRouter(token.type)?.readsCheckpointRouters ?? false)
    }
}
