#!/usr/bin/env bash
# Checks the ISA template scheme of the kernel targets (docs/ARCHITECTURE.md, "ISA templates").
#
# The kernels are written once, in Sources/DyDiTKernelsPortable, and compiled once per
# instruction set: each ISA target (DyDiTKernelsAVX2, DyDiTKernelsAVX512) holds its own
# ISAConfig.swift (the vector type `V`, `madd`, the tile sizes) and symlinks to the shared
# template files, because Package.swift's -Xcc target flags apply to a whole module, so the
# same source must sit in several modules to be compiled with several flag sets. A template
# that is not linked into a build is either a forgotten link (the build then lacks a kernel,
# or the compiler finds it only where something calls it) or a deliberate replacement.
#
# The rule checked here:
#   - every symlink under Sources/ resolves to an existing regular file;
#   - an ISA target is a folder under Sources/ (other than the template folder) that holds an
#     ISAConfig.swift or a symlink into the template folder; it must have its own
#     ISAConfig.swift (a regular file: the per-ISA part) and be a target in Package.swift;
#   - the expected shared set is every *.swift in the template folder except ISAConfig.swift,
#     so a new template file is expected in every ISA target by default;
#   - each ISA target holds each shared file as a relative symlink of the same name
#     (`X.swift -> ../DyDiTKernelsPortable/X.swift`), unless the table `replacements` below
#     says that target replaces it with a file of its own. A replaced template must then be
#     absent (two definitions would clash), and the replacement must declare every function
#     of the template that the other shared templates call (e.g. `microkernel`, used by
#     GemmDriver.swift), so the table cannot hide a missing hook;
#   - each ISA target's ISAConfig.swift declares every typealias, function and constant the
#     template's ISAConfig.swift declares (the surface the shared templates and the
#     dispatcher read).
#
# Usage: scripts/check_isa_templates.sh [repository root]   (default: this script's checkout)
# Prints one summary line and exits 0, or names each problem on stderr and exits 1.
set -euo pipefail

root=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"}
cd "$root"

template=DyDiTKernelsPortable

# Shared templates an ISA target replaces with its own code, one per line:
#   <ISA target> <template file> <the target's own file that replaces it>
# AVX-512 has a 6×64 register tile instead of the 6×16 one. (Its instructions for the rounding
# and power of two of `vexp`, vrndscaleps and vscalefps, are in its ISAConfig.swift under
# DYDIT_VSCALEF, which ExponentBits.swift yields to; PortableVectorOps.swift likewise yields to
# the x86 helpers under DYDIT_X86_ISA: both are linked, so a non-x86 host has a portable form.)
# Its two-row tile for products of one or two rows (GemmDriver.swift's `fewRows`) is its own
# too: FewRows2x64.swift, one 64-wide panel, where FewRows6x16.swift takes two 16-wide ones.
replacements='
DyDiTKernelsAVX512 Microkernel6x16.swift Microkernel6x64.swift
DyDiTKernelsAVX512 FewRows6x16.swift FewRows2x64.swift
'

problems=()
fail() { problems+=("$1"); }

# The replacement of template $2 in target $1 (empty when the target must link it).
replacement_for() {
  printf '%s\n' "$replacements" | awk -v t="$1" -v f="$2" '$1 == t && $2 == f { print $3 }'
}

# Names declared in Swift file $1 by the given declaration keywords (e.g. "func|typealias").
declared_names() {
  grep -oE "(^|[^A-Za-z0-9_])($2)[[:space:]]+[A-Za-z_][A-Za-z0-9_]*" "$1" | awk '{ print $NF }' | sort -u || true
}

# Whether Swift file $1 declares name $3 with one of the keywords $2.
declares() {
  grep -qE "(^|[^A-Za-z0-9_])($2)[[:space:]]+$3([^A-Za-z0-9_]|$)" "$1"
}

[ -d Sources ] || { echo "check_isa_templates: $root has no Sources folder" >&2; exit 1; }
[ -d "Sources/$template" ] || { echo "check_isa_templates: the template folder Sources/$template is missing" >&2; exit 1; }

# 1. Every symlink under Sources/ resolves to an existing regular file.
links=0
while IFS= read -r -d '' link; do
  links=$((links + 1))
  if [ ! -e "$link" ]; then
    fail "$link -> $(readlink "$link"): broken symlink (its target does not exist)"
  elif [ ! -f "$link" ]; then
    fail "$link -> $(readlink "$link"): resolves to something that is not a regular file"
  fi
done < <(find Sources -type l -print0 | sort -z)

# 2. The template folder: the source of truth, so it holds no links itself; its ISAConfig.swift
#    is the portable build's own configuration, every other .swift file is shared.
template_config="Sources/$template/ISAConfig.swift"
[ -f "$template_config" ] && [ ! -L "$template_config" ] || fail "$template_config: missing or not a regular file"
shared=()
for f in "Sources/$template"/*.swift; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  name=${f##*/}
  if [ -L "$f" ]; then
    fail "$f: a symlink in the template folder; templates are the originals the ISA targets link to"
    continue
  fi
  [ "$name" = ISAConfig.swift ] || shared+=("$name")
done
[ ${#shared[@]} -gt 0 ] || fail "Sources/$template: no shared template files (*.swift besides ISAConfig.swift)"

# The names every ISAConfig.swift must declare: what the portable one declares.
config_hooks=()
if [ -f "$template_config" ]; then
  while IFS= read -r n; do [ -n "$n" ] && config_hooks+=("$n"); done \
    < <(declared_names "$template_config" "typealias|func|static let|static var|enum")
fi

# 3. The ISA targets.
targets=()
for dir in Sources/*/; do
  t=$(basename "$dir")
  [ "$t" = "$template" ] && continue
  member=no
  { [ -e "$dir/ISAConfig.swift" ] || [ -L "$dir/ISAConfig.swift" ]; } && member=yes
  for f in "$dir"*.swift; do
    if [ -L "$f" ]; then
      case $(readlink "$f") in *"$template/"*) member=yes ;; esac
    fi
  done
  [ $member = yes ] && targets+=("$t")
done
[ ${#targets[@]} -gt 0 ] || fail "Sources: no ISA target (a folder with ISAConfig.swift or links into Sources/$template)"

# A listed replacement must name an existing ISA target and template file.
while read -r t f r; do
  [ -n "${t:-}" ] || continue
  [ -d "Sources/$t" ] || fail "scripts/check_isa_templates.sh: the replacements table names Sources/$t, which does not exist"
  [ -f "Sources/$template/$f" ] || fail "scripts/check_isa_templates.sh: the replacements table names template $f, which is not in Sources/$template"
done <<< "$replacements"

summary=()
for t in ${targets[@]+"${targets[@]}"}; do
  dir="Sources/$t"
  config="$dir/ISAConfig.swift"
  if [ -L "$config" ] || [ ! -f "$config" ]; then
    fail "$config: missing or a symlink; every ISA target has its own ISAConfig.swift (V, madd, tile sizes)"
  else
    for n in ${config_hooks[@]+"${config_hooks[@]}"}; do
      declares "$config" "typealias|func|let|var|enum" "$n" \
        || fail "$config: does not declare '$n', which $template_config declares (the shared templates read it)"
    done
  fi
  grep -qE "\.target\(name: \"$t\"" Package.swift || fail "$dir: not a .target in Package.swift"

  # Links into the template folder: relative, same name, never the per-ISA ISAConfig.swift.
  for f in "$dir"/*.swift; do
    [ -L "$f" ] || continue
    name=${f##*/} dest=$(readlink "$f")
    case $dest in
      *"$template/"*)
        [ "$dest" = "../$template/$name" ] \
          || fail "$f -> $dest: a template link must be '../$template/$name' (relative, same name)"
        [ "$name" != ISAConfig.swift ] || fail "$f: ISAConfig.swift is per ISA and must not be a link" ;;
    esac
  done

  linked=0 replaced=()
  for name in ${shared[@]+"${shared[@]}"}; do
    f="$dir/$name"
    r=$(replacement_for "$t" "$name")
    if [ -n "$r" ]; then
      if [ -e "$f" ] || [ -L "$f" ]; then
        fail "$f: present, but the replacements table says $t replaces it with $r (the two would define the same functions)"
      elif [ -L "$dir/$r" ] || [ ! -f "$dir/$r" ]; then
        fail "$dir/$r: missing or a symlink, but the replacements table names it as $t's replacement of $name"
      else
        # Functions of the template that other shared templates call must be in the replacement.
        while IFS= read -r fn; do
          [ -n "$fn" ] || continue
          others=()
          for s in ${shared[@]+"${shared[@]}"}; do [ "$s" = "$name" ] || others+=("Sources/$template/$s"); done
          if [ ${#others[@]} -gt 0 ] && grep -qw -- "$fn" "${others[@]}"; then
            declares "$dir/$r" "func" "$fn" \
              || fail "$dir/$r: replaces $name but does not declare func '$fn', which the shared templates call"
          fi
        done < <(declared_names "Sources/$template/$name" "func")
        replaced+=("$name by $r")
      fi
    elif [ -L "$f" ]; then
      [ "$(readlink "$f")" = "../$template/$name" ] && linked=$((linked + 1))  # otherwise reported above
    elif [ -e "$f" ]; then
      fail "$f: a copy of the shared template, not a symlink (copies drift); replace it by 'ln -s ../$template/$name', or list it in the replacements table of scripts/check_isa_templates.sh"
    else
      fail "$f: missing; every ISA target holds the shared template $template/$name: (cd $dir && ln -s ../$template/$name .), or, if $t replaces it with its own code, list that in the replacements table of scripts/check_isa_templates.sh"
    fi
  done
  entry="$t links $linked"
  [ ${#replaced[@]} -eq 0 ] || entry+=", replaces $(IFS=,; echo "${replaced[*]}" | sed 's/,/, /g')"
  summary+=("$entry")
done

if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do echo "check_isa_templates: $p" >&2; done
  echo "check_isa_templates: FAILED, ${#problems[@]} problem(s)" >&2
  exit 1
fi
echo "check_isa_templates: ok: $links symlinks under Sources resolve; ${#shared[@]} shared templates in $template; $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g')"
