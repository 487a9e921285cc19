// The reference model: see model.h.  Read it next to docs/reference.md §3; each
// function is one transition or one primitive the transitions share.
#include "revive/proof/model.h"

#include <algorithm>
#include <array>
#include <sstream>
#include <utility>

namespace revive::proof {

namespace {

void erase_value(std::vector<int>& v, int x) { v.erase(std::remove(v.begin(), v.end(), x), v.end()); }

// The a-th non-empty entry (modulo how many there are), or -1.
template <std::size_t N>
int nth_held(const int (&slots)[N], std::uint8_t a) {
  int count = 0;
  for (int s : slots) count += s >= 0 ? 1 : 0;
  if (count == 0) return -1;
  int k = a % count;
  for (std::size_t i = 0; i < N; ++i) {
    if (slots[i] >= 0 && k-- == 0) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::string describe(const Op& op) {
  std::ostringstream os;
  const int a = op.a, b = op.b, c = op.c;
  const int slot = a % kInterpreters;
  switch (op.kind) {
    case OpKind::NewTensor: os << "C++: h += at::empty()"; break;
    case OpKind::NewWrapped:
      os << "I" << slot << ": v" << b % kVars << " = " << (c % 2 ? "Fin(torch.empty())" : "torch.empty()");
      break;
    case OpKind::Wrap: os << "I" << slot << ": v" << b % kVars << " = wrap(h" << c << ")"; break;
    case OpKind::Unpack: os << "C++: h += unpack(v" << a << ")"; break;
    case OpKind::CopyHandle: os << "C++: h += h" << a; break;
    case OpKind::DropHandle: os << "C++: h" << a << ".reset()"; break;
    case OpKind::TakeWeak: os << "C++: w += weak(h" << a << ")"; break;
    case OpKind::LockWeak: os << "C++: h += w" << a << ".lock()"; break;
    case OpKind::DropWeak: os << "C++: w" << a << ".reset()"; break;
    case OpKind::DropVar: os << "del v" << a; break;
    case OpKind::CopyVar: os << "v" << b % kVars << " = v" << a; break;
    case OpKind::SetFoo: os << "v" << a << ".foo = <int>"; break;
    case OpKind::SetPeer: os << "v" << a << ".peer = v" << b % kVars; break;
    case OpKind::MakeWeakref:
      os << "r" << b % kWeakrefVars << " = weakref.ref(v" << a << (c % 2 != 0 ? ", callback" : "") << ")";
      break;
    case OpKind::Deref: os << "v" << b % kVars << " = r" << a << "()"; break;
    case OpKind::DropWeakref: os << "del r" << a; break;
    case OpKind::FixWeakref: os << "v" << a << "._fix_weakref()"; break;
    case OpKind::Hermetic: os << "hermetic mode " << (a != 0 ? "on" : "off"); break;
    case OpKind::Teardown: os << "tear down I" << slot; break;
    case OpKind::Collect: os << "I" << slot << ": gc.collect()"; break;
    case OpKind::AutoGc: os << "I" << slot << ": gc.set_threshold(" << b % 4 << ", 2, 2); gc.enable()"; break;
    case OpKind::StorageOf: os << "v" << b % kVars << " = v" << a << ".untyped_storage()"; break;
    case OpKind::TensorOf: os << "v" << b % kVars << " = torch.tensor(v" << a << ")"; break;
    case OpKind::NewStorage: os << "I" << slot << ": v" << b % kVars << " = torch.UntypedStorage(16)"; break;
    case OpKind::ShareStorage: os << "C++: h += at::empty(0).set_(h" << a << ".storage())"; break;
    case OpKind::SetGrad:
      if (op.c != 0) os << "C++: h" << a << ".grad = None";
      else os << "C++: h" << a << ".grad = h" << b;
      break;
    case OpKind::Pow: os << "v" << b % kVars << " = v" << a << " ** 2"; break;
    case OpKind::SetHooks: os << "v" << a << "._backward_hooks = v" << b % kVars; break;
    case OpKind::kCount: os << "?"; break;
  }
  return os.str();
}

std::string to_string(const Coverage& c) {
  std::ostringstream os;
  os << c.resurrections << " resurrections, " << c.flips << " flips back, " << c.real_deaths << " real deaths, "
     << c.hole_warnings << " weakref-hole warnings, " << c.gc_clears << " collector clears, " << c.auto_collections
     << " automatic collections, " << c.weakref_callbacks << " weakref callbacks, " << c.hermetic_wrappers
     << " hermetic wrappers, " << c.storage_wrappers << " storage wrappers, " << c.storage_resurrections
     << " storage resurrections, " << c.storage_aliases << " storage aliases, " << c.hermetic_storage_wrappers
     << " hermetic storage wrappers, " << c.grads_released << " grads released, " << c.teardowns << " teardowns, " << c.reclaims << " dead interpreters reclaimed, "
     << c.refusals << " refused ops";
  if (c.e4_wrappers != 0) {
    os << ", " << c.e4_wrappers << " E4 wrappers, " << c.e4_cpp_increfs << " E4 increfs from C++ (1 -> 2), "
       << c.e4_cpp_decrefs << " E4 decrefs from C++ (2 -> 1)";
  }
  if (c.graph_nodes != 0) {
    os << ", " << c.graph_nodes << " autograd nodes, " << c.saved_releases << " saved tensors released by their node, "
       << c.hooks_seen_through << " C++ hook references traversed";
  }
  if (c.threaded_rounds != 0) {
    os << ", " << c.threaded_rounds << " rounds on several threads at once, " << c.concurrent_releases
       << " releases into another thread's interpreter";
  }
  return os.str();
}

Coverage& Coverage::operator+=(const Coverage& o) {
  resurrections += o.resurrections;
  flips += o.flips;
  real_deaths += o.real_deaths;
  hole_warnings += o.hole_warnings;
  refusals += o.refusals;
  teardowns += o.teardowns;
  gc_clears += o.gc_clears;
  hermetic_wrappers += o.hermetic_wrappers;
  weakref_callbacks += o.weakref_callbacks;
  auto_collections += o.auto_collections;
  reclaims += o.reclaims;
  storage_wrappers += o.storage_wrappers;
  storage_resurrections += o.storage_resurrections;
  storage_aliases += o.storage_aliases;
  hermetic_storage_wrappers += o.hermetic_storage_wrappers;
  grads_released += o.grads_released;
  e4_wrappers += o.e4_wrappers;
  e4_cpp_increfs += o.e4_cpp_increfs;
  e4_cpp_decrefs += o.e4_cpp_decrefs;
  graph_nodes += o.graph_nodes;
  saved_releases += o.saved_releases;
  hooks_seen_through += o.hooks_seen_through;
  threaded_rounds += o.threaded_rounds;
  concurrent_releases += o.concurrent_releases;
  return *this;
}

std::string to_string(const Eras& eras) {
  std::string out;
  for (Era e : eras) out += std::string(out.empty() ? "" : ",") + (e == Era::E2 ? "E2" : "E4");
  return out;
}

std::optional<Eras> eras_named(std::string_view text) {
  Eras eras = kE2Only;
  for (int slot = 0; slot < kInterpreters; ++slot) {
    const std::string_view one = text.substr(0, 2);
    if (one == "E2" || one == "e2") eras[slot] = Era::E2;
    else if (one == "E4" || one == "e4") eras[slot] = Era::E4;
    else return std::nullopt;
    text.remove_prefix(2);
    if (slot + 1 < kInterpreters) {
      if (text.empty() || text.front() != ',') return std::nullopt;
      text.remove_prefix(1);
    }
  }
  if (!text.empty()) return std::nullopt;
  return eras;
}

Model::Model(Eras eras_) : eras(eras_) {
  for (int i = 0; i < kInterpreters; ++i) new_interp(i);
}

void Model::new_interp(int slot) {
  Interp fresh;
  fresh.era = eras[slot];
  fresh.generation = static_cast<int>(std::count(slot_of.begin(), slot_of.end(), slot));
  interps.push_back(fresh);
  slot_of.push_back(slot);
  slot_interp[slot] = static_cast<int>(interps.size()) - 1;
}

// ---- resolution ----------------------------------------------------------------------

std::optional<Op> Model::resolve(const Op& op) const {
  Op r = op;
  const auto handles = static_cast<int>(held.handles.size());
  const auto weaks = static_cast<int>(held.weaks.size());
  switch (op.kind) {
    case OpKind::NewTensor: return r;
    case OpKind::NewWrapped:
      r.a = static_cast<std::uint8_t>(op.a % kInterpreters);
      r.b = static_cast<std::uint8_t>(op.b % kVars);
      r.c = static_cast<std::uint8_t>(op.c % 2);
      return r;
    case OpKind::Wrap:
      if (handles == 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(op.a % kInterpreters);
      r.b = static_cast<std::uint8_t>(op.b % kVars);
      r.c = static_cast<std::uint8_t>(op.c % handles);
      return r;
    case OpKind::CopyHandle:
    case OpKind::DropHandle:
    case OpKind::TakeWeak:
    case OpKind::ShareStorage:
      if (handles == 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(op.a % handles);
      return r;
    case OpKind::SetGrad: {
      if (handles == 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(op.a % handles);
      r.b = static_cast<std::uint8_t>(op.b % handles);
      r.c = static_cast<std::uint8_t>(op.c % 2);
      if (r.c != 0) return r;
      // Never a cycle through C++ (a tensor that owns itself, directly or not, through
      // grads or through the graph a grad's grad_fn saves, is never freed: PyTorch leaks
      // it too, and warns about it for backward(create_graph=True)).
      const int owner = held.handles[r.a];
      const auto T = static_cast<int>(targets.size());
      std::vector<char> seen(targets.size() + nodes.size(), 0);
      std::vector<int> work{held.handles[r.b]};  // targets, then nodes (T + k)
      while (!work.empty()) {
        const int x = work.back();
        work.pop_back();
        if (x < 0 || seen[x]) continue;
        seen[x] = 1;
        if (x == owner) return std::nullopt;
        if (x < T) {
          work.push_back(targets[x].grad);
          if (targets[x].grad_fn >= 0) work.push_back(T + targets[x].grad_fn);
        } else {
          const GraphNode& n = nodes[x - T];
          work.push_back(n.saved);
          work.push_back(n.variable);
          if (n.next >= 0) work.push_back(T + n.next);
        }
      }
      return r;
    }
    case OpKind::LockWeak:
    case OpKind::DropWeak:
      if (weaks == 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(op.a % weaks);
      return r;
    case OpKind::Unpack:
    case OpKind::DropVar:
    case OpKind::SetFoo:
    case OpKind::FixWeakref: {
      const int v = nth_held(held.vars, op.a);
      if (v < 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(v);
      // Left out: a hermetic storage wrapper whose storage another interpreter tagged
      // since.  Fixing it outside hermetic mode wraps a new StorageImpl that lives
      // only inside the call, which the runner cannot watch.
      if (op.kind == OpKind::FixWeakref) {
        const Wrapper& w = wrappers[held.vars[v]];
        const Target& t = targets[w.target];
        if (is_storage_wrapper(held.vars[v]) && w.hermetic && t.tag >= 0 && t.tag != w.interp) return std::nullopt;
      }
      return r;
    }
    case OpKind::StorageOf:
    case OpKind::TensorOf:
    case OpKind::Pow:
    case OpKind::SetHooks: {
      const int v = nth_held(held.vars, op.a);
      if (v < 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(v);
      r.b = static_cast<std::uint8_t>(op.b % kVars);
      return r;
    }
    case OpKind::NewStorage:
      r.a = static_cast<std::uint8_t>(op.a % kInterpreters);
      r.b = static_cast<std::uint8_t>(op.b % kVars);
      return r;
    case OpKind::CopyVar:
    case OpKind::SetPeer:
    case OpKind::MakeWeakref: {
      const int v = nth_held(held.vars, op.a);
      if (v < 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(v);
      r.b = static_cast<std::uint8_t>(op.b % (op.kind == OpKind::MakeWeakref ? kWeakrefVars : kVars));
      if (op.kind == OpKind::MakeWeakref) r.c = static_cast<std::uint8_t>(op.c % 2);
      // A hermetic wrapper is never stored as a peer: a zombie's peer chain could
      // then own the zombie's own tensor, a cycle through C++ that nothing can free.
      if (op.kind == OpKind::SetPeer && held.vars[r.b] >= 0 && wrappers[held.vars[r.b]].hermetic) {
        return std::nullopt;
      }
      // Nor does a storage wrapper hold a peer: its zombie (kept by the storage, kept by
      // the tensors viewing it) could then own one of those tensors.  PyTorch leaks
      // such a cycle too; the scenarios stay with what can be freed.
      if (op.kind == OpKind::SetPeer && is_storage_wrapper(held.vars[r.a])) return std::nullopt;
      return r;
    }
    case OpKind::Deref:
    case OpKind::DropWeakref: {
      const int k = nth_held(held.weakref_vars, op.a);
      if (k < 0) return std::nullopt;
      r.a = static_cast<std::uint8_t>(k);
      r.b = static_cast<std::uint8_t>(op.b % kVars);
      return r;
    }
    case OpKind::Hermetic:
      r.a = static_cast<std::uint8_t>(op.a % 4 == 0 ? 1 : 0);
      return r;
    case OpKind::Teardown:
    case OpKind::Collect:
      r.a = static_cast<std::uint8_t>(op.a % kInterpreters);
      return r;
    case OpKind::AutoGc:
      r.a = static_cast<std::uint8_t>(op.a % kInterpreters);
      r.b = static_cast<std::uint8_t>(op.b % 4);
      return r;
    case OpKind::kCount: return std::nullopt;
  }
  return std::nullopt;
}

// ---- one step ------------------------------------------------------------------------

Outcome Model::apply(const Op& op) {
  try {
    switch (op.kind) {
      case OpKind::NewTensor:
        held.handles.push_back(new_tensor());
        return Outcome::Ran;
      case OpKind::NewWrapped: {
        // torch.empty(): a temporary C++ tensor, wrapped, then the temporary dies.
        const int t = new_tensor();
        int w = -1;
        if (op.c != 0) {
          safe_point(slot_interp[op.a]);  // cls(t): THPVariable_NewWithVar's allocation
          w = new_wrapper(t, slot_interp[op.a], /*has_finalizer=*/true);
        } else {
          w = wrap(t, slot_interp[op.a]);
        }
        strong_dec(t);
        set_var(op.b, w);
        return Outcome::Ran;
      }
      case OpKind::Wrap: {
        const int w = wrap(held.handles[op.c], slot_interp[op.a]);
        set_var(op.b, w);
        return Outcome::Ran;
      }
      case OpKind::Unpack: {
        const Wrapper& w = wrappers[held.vars[op.a]];
        if (abandoned(held.vars[op.a])) throw ModelError{"torn down"};
        if (is_storage_wrapper(held.vars[op.a])) throw ModelError{"TypeError: expected Tensor"};
        if (w.cdata == Cdata::Undefined) return Outcome::Ran;  // an undefined tensor: not kept
        held.handles.push_back(w.target);
        strong_inc(w.target);
        return Outcome::Ran;
      }
      case OpKind::ShareStorage:
        held.handles.push_back(new_tensor(targets[held.handles[op.a]].storage));
        return Outcome::Ran;
      case OpKind::SetGrad: {
        // TensorImpl::set_grad: the new grad is held first, then the old one let go.
        const int t = held.handles[op.a];
        const int g = op.c != 0 ? -1 : held.handles[op.b];
        if (g >= 0) strong_inc(g);
        const int old = targets[t].grad;
        targets[t].grad = g;
        if (old >= 0) strong_dec(old);
        return Outcome::Ran;
      }
      case OpKind::CopyHandle:
        held.handles.push_back(held.handles[op.a]);
        strong_inc(held.handles[op.a]);
        return Outcome::Ran;
      case OpKind::DropHandle: {
        const int t = held.handles[op.a];
        held.handles.erase(held.handles.begin() + op.a);
        strong_dec(t);
        return Outcome::Ran;
      }
      case OpKind::TakeWeak:
        held.weaks.push_back(held.handles[op.a]);
        return Outcome::Ran;
      case OpKind::LockWeak: {
        const int t = held.weaks[op.a];
        const Target& x = targets[t];
        // E4 at n == 1: the only owner is the wrapper, and lock() must try-incref it
        // first; a dead interpreter's disarmed vtable refuses, so lock() gives null.
        if (x.alive && x.has_pyobject && x.n == 1 && x.recorded >= 0 && abandoned(x.recorded)) {
          return Outcome::Ran;
        }
        if (targets[t].alive) {
          held.handles.push_back(t);
          strong_inc(t);
        }
        return Outcome::Ran;
      }
      case OpKind::DropWeak:
        held.weaks.erase(held.weaks.begin() + op.a);
        return Outcome::Ran;
      case OpKind::DropVar: {
        const int w = held.vars[op.a];
        held.vars[op.a] = -1;
        decref(w);
        return Outcome::Ran;
      }
      case OpKind::CopyVar: {
        const int w = held.vars[op.a];
        incref(w);
        set_var(op.b, w);
        return Outcome::Ran;
      }
      case OpKind::Pow: {
        // requires_grad = True (a leaf that does not yet), then pow: both unpack var a,
        // which raises for a storage, a torn-down interpreter's or a stubbed wrapper.
        const int x = held.vars[op.a];
        if (abandoned(x)) throw ModelError{"torn down"};
        if (is_storage_wrapper(x)) throw ModelError{"TypeError: expected Tensor"};
        if (wrappers[x].cdata == Cdata::Undefined) throw ModelError{"Expected a proper Tensor"};
        set_var(op.b, pow(wrappers[x].target, wrappers[x].interp));
        return Outcome::Ran;
      }
      case OpKind::SetHooks: {
        // set_backward_hooks: unpack (a copy of the handle), the checks, the field and the
        // C++ copy set, then the old C++ copy, the old field and the copy let go.
        const int x = held.vars[op.a];
        const int value = held.vars[op.b];
        if (abandoned(x)) throw ModelError{"torn down"};
        if (is_storage_wrapper(x)) throw ModelError{"TypeError: expected Tensor"};
        const int t = wrappers[x].target;
        const bool defined = wrappers[x].cdata != Cdata::Undefined;
        if (defined) strong_inc(t);
        if (value >= 0 && wrappers[value].interp != wrappers[x].interp) {
          if (defined) strong_dec(t);
          throw ModelError{"cannot store an object of another interpreter"};
        }
        incref(value);
        const int old = std::exchange(wrappers[x].hooks, value);
        int old_cpp = -1;
        if (defined) {
          old_cpp = std::exchange(targets[t].cpp_hooks, value);
          incref(value);
        }
        if (old_cpp >= 0) decref(old_cpp);
        decref(old);
        if (defined) strong_dec(t);
        return Outcome::Ran;
      }
      case OpKind::SetFoo: {
        const int w = held.vars[op.a];
        if (abandoned(w)) throw ModelError{"torn down"};
        wrappers[w].foo = next_foo++;
        return Outcome::Ran;
      }
      case OpKind::SetPeer: {
        const int w = held.vars[op.a];
        const int value = held.vars[op.b];
        if (abandoned(w)) throw ModelError{"torn down"};
        if (value >= 0 && wrappers[value].interp != wrappers[w].interp) {
          throw ModelError{"cannot store an object of another interpreter"};
        }
        if (value >= 0) incref(value);
        const int old = std::exchange(wrappers[w].peer, value);
        if (old >= 0) decref(old);
        return Outcome::Ran;
      }
      case OpKind::MakeWeakref: {
        const int w = held.vars[op.a];
        if (abandoned(w)) throw ModelError{"torn down"};
        safe_point(wrappers[w].interp);  // weakref.ref allocates (an untracked object)
        weakrefs.push_back(Weakref{wrappers[w].interp, w, true, op.c != 0});
        ++interps[wrappers[w].interp].live_objects;
        const int old = std::exchange(held.weakref_vars[op.b], static_cast<int>(weakrefs.size()) - 1);
        if (old >= 0) drop_weakref(old);
        return Outcome::Ran;
      }
      case OpKind::Deref: {
        const Weakref& wr = weakrefs[held.weakref_vars[op.a]];
        if (!interps[wr.interp].alive) throw ModelError{"torn down"};
        const int w = wr.referent;
        if (w >= 0) {
          incref(w);  // a plain incref, whatever the state: see the weakref hole
          const Target& t = targets[wrappers[w].target];
          if (t.recorded == w && t.owns) wrappers[w].revived_by_weakref = true;
        }
        set_var(op.b, w);
        return Outcome::Ran;
      }
      case OpKind::DropWeakref: {
        const int k = held.weakref_vars[op.a];
        held.weakref_vars[op.a] = -1;
        drop_weakref(k);
        return Outcome::Ran;
      }
      case OpKind::FixWeakref: {
        // THPVariable_fix_weakref: `var = unpack(self); again = wrap(var)`, then `again`
        // and `var` die, in that order.
        const int self = held.vars[op.a];
        if (abandoned(self)) throw ModelError{"torn down"};
        const Wrapper& w = wrappers[self];
        if (w.cdata == Cdata::Undefined) return Outcome::Ran;  // wrap(undefined) is None
        const int t = w.target;
        const int interp = w.interp;
        strong_inc(t);  // unpack's reference, held across wrap (and its safe point)
        int again = -1;
        try {
          again = wrap(t, interp);
        } catch (const ModelError&) {
          strong_dec(t);  // the unpacked tensor dies with the raise
          throw;
        }
        decref(again);
        strong_dec(t);
        return Outcome::Ran;
      }
      case OpKind::Hermetic:
        hermetic = op.a != 0;
        return Outcome::Ran;
      case OpKind::Teardown: {
        const int dying = slot_interp[op.a];
        collect(dying);  // Py_Finalize's last collection
        interps[dying].alive = false;
        ++coverage.teardowns;
        reclaim_dead();  // the teardown's sweep
        new_interp(op.a);
        return Outcome::Ran;
      }
      case OpKind::Collect:
        collect(slot_interp[op.a]);
        return Outcome::Ran;
      case OpKind::AutoGc: {
        Interp& I = interps[slot_interp[op.a]];
        I.threshold[0] = op.b;
        I.threshold[1] = I.threshold[2] = 2;
        I.gc_enabled = true;
        return Outcome::Ran;
      }
      case OpKind::StorageOf: {
        // untyped_storage: unpack the tensor (a checked TypeError for a storage, and
        // None's error for an undefined one), then wrap its storage.
        const int self = held.vars[op.a];
        if (abandoned(self)) throw ModelError{"torn down"};
        if (is_storage_wrapper(self)) throw ModelError{"TypeError: expected Tensor"};
        if (wrappers[self].cdata == Cdata::Undefined) throw ModelError{"Expected a proper Tensor"};
        const int w = wrap(targets[wrappers[self].target].storage, wrappers[self].interp);
        set_var(op.b, w);
        return Outcome::Ran;
      }
      case OpKind::TensorOf: {
        const int self = held.vars[op.a];
        if (abandoned(self)) throw ModelError{"torn down"};
        if (!is_storage_wrapper(self)) throw ModelError{"TypeError: expected UntypedStorage"};
        if (wrappers[self].cdata == Cdata::Undefined) throw ModelError{"Got a null Storage"};
        const int t = new_tensor(wrappers[self].target);  // the temporary C++ tensor
        const int w = wrap(t, wrappers[self].interp);
        strong_dec(t);
        set_var(op.b, w);
        return Outcome::Ran;
      }
      case OpKind::NewStorage: {
        const int interp = slot_interp[op.a];
        safe_point(interp);
        targets.push_back(Target{});
        const int s = static_cast<int>(targets.size()) - 1;
        targets[s].is_storage = true;
        strong_inc(s);  // the temporary handle
        const int w = new_wrapper(s, interp, false);
        strong_dec(s);
        set_var(op.b, w);
        return Outcome::Ran;
      }
      case OpKind::kCount: break;
    }
  } catch (const ModelError&) {
    ++coverage.refusals;
    return Outcome::Raised;
  }
  return Outcome::Skipped;
}

int Model::finish() {
  hermetic = false;
  for (int v = 0; v < kVars; ++v) {
    if (held.vars[v] >= 0) apply(Op{OpKind::DropVar, static_cast<std::uint8_t>(v), 0, 0});
  }
  for (int k = 0; k < kWeakrefVars; ++k) {
    if (held.weakref_vars[k] >= 0) apply(Op{OpKind::DropWeakref, static_cast<std::uint8_t>(k), 0, 0});
  }
  while (!held.handles.empty()) {
    apply(Op{OpKind::DropHandle, static_cast<std::uint8_t>(held.handles.size() - 1), 0, 0});
  }
  held.weaks.clear();
  // A collection in one interpreter can free a C++ object whose death lets another
  // interpreter's garbage go (a grad held by a cycle of the other one), and a clear may
  // free nothing yet let go of what keeps another interpreter's wrapper a root (a
  // hermetic wrapper's clear releasing its share of a tensor), so collect every
  // interpreter again until a round frees and clears nothing.
  int rounds = 0;
  for (bool changed = true; changed && rounds < 1000; ++rounds) {
    const auto live = std::count_if(wrappers.begin(), wrappers.end(), [](const Wrapper& w) { return w.alive; });
    const long clears = coverage.gc_clears;
    for (int i = 0; i < kInterpreters; ++i) collect(slot_interp[i]);
    changed = live != std::count_if(wrappers.begin(), wrappers.end(), [](const Wrapper& w) { return w.alive; }) ||
              coverage.gc_clears != clears;
  }
  return rounds;
}

// ---- reclaiming dead interpreters ----------------------------------------------------------

// Note [Reclaiming a dead interpreter] (interp/runtime.h), stated over the model's
// holdings rather than counted: a dead interpreter is freed once no variable holds one
// of its wrappers or weakrefs, and every live tensor it tagged is held only by its own
// wrappers (their owned cdata).  Freeing releases each owned cdata in creation order
// (which may kill tensors, and so hand zombies of other interpreters back), then the
// objects are gone.  Sweeps repeat until nothing changes, as the runtime's do.
void Model::reclaim_dead() {
  for (bool progress = true; progress;) {
    progress = false;
    // The dead interpreters judged together: whatever something outside the group
    // reaches leaves it, until the rest reach only each other.
    std::vector<char> group(interps.size(), 0);
    for (std::size_t i = 0; i < interps.size(); ++i) group[i] = !interps[i].alive && !interps[i].reclaimed;
    for (bool shrank = true; shrank;) {
      shrank = false;
      const std::vector<char> judged = group;
      const std::vector<char> ok = reclaimable(judged);
      for (std::size_t i = 0; i < interps.size(); ++i) {
        if (judged[i] && !ok[i]) {
          group[i] = 0;
          shrank = true;
        }
      }
    }
    for (std::size_t w = 0; w < wrappers.size(); ++w) {
      if (wrappers[w].alive && group[wrappers[w].interp]) release_cdata(static_cast<int>(w));
    }
    for (Wrapper& w : wrappers) {
      if (group[w.interp] && w.alive) {
        w.alive = false;
        --interps[w.interp].live_objects;
      }
    }
    for (Weakref& wr : weakrefs) {
      if (group[wr.interp] && wr.alive) {
        wr.alive = false;
        --interps[wr.interp].live_objects;
      }
    }
    for (std::size_t i = 0; i < interps.size(); ++i) {
      if (!group[i]) continue;
      interps[i].reclaimed = true;
      ++coverage.reclaims;
      progress = true;
    }
  }
}

std::vector<char> Model::reclaimable(const std::vector<char>& group) const {
  // Judged for every member at once: what the group reaches does not depend on which
  // member asks, only the last check (whose tags) does.
  std::vector<char> ok = group;
  for (int w : held.vars) {
    if (w >= 0) ok[wrappers[w].interp] = 0;
  }
  for (int k : held.weakref_vars) {
    if (k >= 0) ok[weakrefs[k].interp] = 0;
  }

  // What the group's wrappers own, and what that holds in turn (a tensor its grad, its
  // grad_fn and its storage; a node what it saved, its leaf and its edge): each with the
  // owning references found from that side.  Targets first, then nodes (T + k).
  const auto T = static_cast<int>(targets.size());
  const auto count = targets.size() + nodes.size();
  std::vector<int> held_inside(count, 0);
  std::vector<char> reached(count, 0);
  std::vector<int> work;
  auto hold = [&](int t) {
    ++held_inside[t];
    if (!reached[t]) {
      reached[t] = 1;
      work.push_back(t);
    }
  };
  for (const Wrapper& w : wrappers) {
    if (w.alive && group[w.interp] && w.cdata == Cdata::Owned) hold(w.target);
  }
  auto held_by = [&](int t) {
    if (t < T) {
      const Target& x = targets[t];
      return std::array<int, 3>{x.grad, x.grad_fn >= 0 ? T + x.grad_fn : -1, x.storage};
    }
    const GraphNode& n = nodes[t - T];
    return std::array<int, 3>{n.saved, n.variable, n.next >= 0 ? T + n.next : -1};
  };
  auto strong = [&](int t) { return t < T ? targets[t].n : nodes[t - T].n; };
  for (std::size_t i = 0; i < work.size(); ++i) {
    for (int k : held_by(work[i])) {
      if (k >= 0) hold(k);
    }
  }
  // Held from outside: more references than those, or held by a target that is.
  std::vector<char> outside(count, 0);
  std::vector<int> spread;
  for (int t : work) {
    if (strong(t) != held_inside[t]) {
      outside[t] = 1;
      spread.push_back(t);
    }
  }
  while (!spread.empty()) {
    const int t = spread.back();
    spread.pop_back();
    for (int k : held_by(t)) {
      if (k >= 0 && !outside[k]) {
        outside[k] = 1;
        spread.push_back(k);
      }
    }
  }
  // Every live tag of a member must be reached, from inside the group only; and every
  // Python hooks object C++ holds for it (a SafePyObject, given back through its
  // interpreter) must be in a tensor reached so.
  for (int t = 0; t < T; ++t) {
    if (!targets[t].alive) continue;
    if (targets[t].tag >= 0 && (!reached[t] || outside[t])) ok[targets[t].tag] = 0;
    if (targets[t].cpp_hooks >= 0 && (!reached[t] || outside[t])) ok[wrappers[targets[t].cpp_hooks].interp] = 0;
  }
  return ok;
}

// ---- Python-level primitives ---------------------------------------------------------------

// T1 / T1' / T2 / T5 / T10: THPVariable_Wrap.
int Model::wrap(int t, int interp) {
  safe_point(interp);  // before anything is read: a collection may free the recorded wrapper
  // Note [Storage wrap across interpreters]: outside hermetic mode, a storage another
  // interpreter tagged is wrapped as a new StorageImpl sharing its bytes.
  if (targets[t].is_storage && !hermetic && targets[t].tag >= 0 && targets[t].tag != interp) {
    targets.push_back(Target{});
    const int alias = static_cast<int>(targets.size()) - 1;
    targets[alias].is_storage = true;
    ++coverage.storage_aliases;
    strong_inc(alias);  // the temporary handle
    const int w = new_wrapper(alias, interp, false);
    strong_dec(alias);
    return w;
  }
  Target& target = targets[t];
  // check_pyobj refuses a tensor tagged elsewhere, in hermetic mode too (its hermetic
  // answer only covers tensors tagged by the asking interpreter).
  if (target.tag >= 0 && target.tag != interp) {
    throw ModelError{"cannot access PyObject for Tensor on interpreter"};  // T11
  }
  if (hermetic) {
    const int h = new_wrapper(t, interp, false);
    wrappers[h].hermetic = true;  // never recorded
    ++coverage.hermetic_wrappers;
    return h;
  }
  if (target.tag == interp && target.recorded >= 0) {
    const int p = target.recorded;
    if (target.owns) {  // T5: flip back; the caller takes the slot's reference
      target.owns = false;
      wrappers[p].cdata = Cdata::Owned;
      wrappers[p].revived_by_weakref = false;
      strong_inc(t);
      ++coverage.flips;
      return p;
    }
    incref(p);  // T2
    return p;
  }
  return new_wrapper(t, interp, false);  // T1 / T1'
}

int Model::new_tensor(int storage) {
  if (storage < 0) {
    targets.push_back(Target{});
    storage = static_cast<int>(targets.size()) - 1;
    targets[storage].is_storage = true;
  }
  strong_inc(storage);  // the tensor holds its storage
  targets.push_back(Target{});
  const int t = static_cast<int>(targets.size()) - 1;
  targets[t].storage = storage;
  strong_inc(t);
  return t;
}

int Model::new_wrapper(int t, int interp, bool has_finalizer) {
  Wrapper w;
  w.target = t;
  w.interp = interp;
  w.has_finalizer = has_finalizer;
  w.hermetic = hermetic;
  wrappers.push_back(w);
  ++interps[interp].live_objects;
  const int id = static_cast<int>(wrappers.size()) - 1;
  strong_inc(t);
  if (targets[t].is_storage) {
    ++coverage.storage_wrappers;
    if (hermetic) ++coverage.hermetic_storage_wrappers;
  }
  interps[interp].gens[0].push_back(id);  // tracked from birth
  ++interps[interp].count[0];
  if (!hermetic) {  // callers made sure the slot is free for this interpreter
    Target& target = targets[t];
    target.tag = interp;
    target.recorded = id;
    target.owns = false;
    if (interps[interp].era == Era::E4) {
      // set_has_pyobject: the caller's handle still holds the target, so C++ takes its
      // reference to the wrapper at once (Note [Era E4 in the binding]).
      ++coverage.e4_wrappers;
      if (!target.has_pyobject) {
        target.has_pyobject = true;
        if (target.n > 1) {
          ++coverage.e4_cpp_increfs;
          incref(id);
        }
      }
    }
  }
  return id;
}

void Model::incref(int w) {
  if (w < 0 || abandoned(w)) return;  // teardown: references are no longer counted
  ++wrappers[w].r;
}

void Model::decref(int w) {
  if (w < 0 || abandoned(w)) return;
  if (--wrappers[w].r == 0) dealloc(w);
}

void Model::set_var(int v, int w) {
  const int old = std::exchange(held.vars[v], w);
  decref(old);
}

void Model::drop_weakref(int k) {
  Weakref& wr = weakrefs[k];
  if (!interps[wr.interp].alive) return;  // abandoned with its interpreter
  if (wr.alive) --interps[wr.interp].live_objects;
  wr.alive = false;
  wr.referent = -1;
}

// subtype_dealloc's PyObject_ClearWeakRefs, and the collector's handle_weakrefs: every
// live weakref to w reads None from now on; those with a callback call it, once.  The
// scenarios' callbacks only count, so their order among themselves is not observable.
void Model::clear_weakrefs_to(int w) {
  for (Weakref& wr : weakrefs) {
    if (!wr.alive || wr.referent != w) continue;
    wr.referent = -1;
    if (wr.has_callback) {
      ++wr.callback_runs;
      ++callback_total;
      ++coverage.weakref_callbacks;
    }
  }
}

// isResurrectable: owned cdata, a live tensor someone else also holds, recorded by this
// wrapper's interpreter, and not in hermetic mode (check_pyobj answers "none" there).
bool Model::resurrectable(int w) const {
  const Wrapper& p = wrappers[w];
  if (interps[p.interp].era == Era::E4) return false;  // E4 never resurrects
  // Tensors follow the thread's hermetic state at death; storages remember it from
  // their creation (p.hermetic) and ignore the thread's.
  if (p.cdata != Cdata::Owned || p.hermetic || (hermetic && !is_storage_wrapper(w))) return false;
  const Target& t = targets[p.target];
  return t.alive && t.n > 1 && t.tag == p.interp && t.recorded == w;
}

void Model::dealloc(int w) {
  if (resurrectable(w)) {
    t3_resurrect(w);
  } else {
    real_death(w);
  }
}

// T3: the slot takes the wrapper's one reference; cdata becomes borrowed.
void Model::t3_resurrect(int w) {
  Wrapper& p = wrappers[w];
  Target& t = targets[p.target];
  t.owns = true;
  p.r = 1;
  p.cdata = Cdata::Borrowed;
  ++coverage.resurrections;
  if (t.is_storage) ++coverage.storage_resurrections;
  strong_dec(p.target);  // n > 1 before, so the target lives on
}

// T4 (and the end of T6): CPython's subtype_dealloc order.
void Model::real_death(int w) {
  untrack(w);
  ++coverage.real_deaths;
  Wrapper& p = wrappers[w];
  if (p.has_finalizer && !p.finalized) {
    p.finalized = true;
    ++p.finalizer_runs;
    ++finalizer_total;
  }
  clear_weakrefs_to(w);
  p.foo.reset();
  const int peer = std::exchange(p.peer, -1);
  decref(peer);
  decref(std::exchange(wrappers[w].hooks, -1));  // THPVariable_clear's Py_CLEAR(backward_hooks)
  release_cdata(w);
  if (wrappers[w].alive) --interps[wrappers[w].interp].live_objects;
  wrappers[w].alive = false;
  int& young = interps[wrappers[w].interp].count[0];  // freed: one allocation fewer
  if (young > 0) --young;
}

// A recorded wrapper releasing its owned cdata clears the slot first (model addition).
void Model::release_cdata(int w) {
  Wrapper& p = wrappers[w];
  if (p.cdata == Cdata::Owned) {
    Target& t = targets[p.target];
    if (t.tag == p.interp && t.recorded == w) {
      t.recorded = -1;
      t.owns = false;
    }
    p.cdata = Cdata::Undefined;
    strong_dec(p.target);
  } else {
    p.cdata = Cdata::Undefined;  // borrowed: no count
  }
}

// T6: the slot hands its reference back.
void Model::t6_decref_from_cpp(int w) {
  Wrapper& p = wrappers[w];
  if (!interps[p.interp].alive) return;  // disarmed: nothing runs
  if (p.r > 1) {  // the weakref hole: warn and stub
    ++interps[p.interp].warnings;
    ++coverage.hole_warnings;
    p.cdata = Cdata::Undefined;
  }
  decref(w);
}

// ---- C++-level primitives ------------------------------------------------------------------

// E4: 1 -> 2 with the bit set, C++ takes a reference to the recorded wrapper, and 2 -> 1
// gives it back (Note [The has-PyObject bit]).
void Model::strong_inc(int t) {
  Target& target = targets[t];
  if (++target.n == 2 && target.has_pyobject && target.recorded >= 0) {
    ++coverage.e4_cpp_increfs;
    incref(target.recorded);
  }
}

void Model::strong_dec(int t) {
  Target& target = targets[t];
  if (--target.n > 0) {
    if (target.n == 1 && target.has_pyobject && target.recorded >= 0) {
      ++coverage.e4_cpp_decrefs;
      decref(target.recorded);  // may be the wrapper's death, and with it the target's
    }
    return;
  }
  // A tensor (C++ weak references keep its memory: release_resources) gives up its
  // storage, then maybe_destroy_pyobj clears the slot and gives the wrapper back.  A
  // storage (nothing weak holds it in these scenarios: deleted at once) does the same
  // from its destructor.
  target.alive = false;
  if (target.grad >= 0) {  // c10's order: the grad, autograd meta, the storage, then the wrapper
    const int g = std::exchange(target.grad, -1);
    ++coverage.grads_released;
    strong_dec(g);
  }
  // AutogradMeta's members, last declared first: the pre-hook's object (SafePyObject,
  // through its interpreter: nothing once that is torn down), then grad_fn.
  decref(std::exchange(targets[t].cpp_hooks, -1));
  if (const int k = std::exchange(targets[t].grad_fn, -1); k >= 0) node_dec(k);
  if (targets[t].storage >= 0) strong_dec(targets[t].storage);
  Target& dying = targets[t];
  const int p = dying.recorded;
  const bool owns = dying.owns;
  dying.recorded = -1;
  dying.owns = false;
  if (p >= 0 && owns) t6_decref_from_cpp(p);
}

// ---- the collector (See Note [The cycle collector]) -------------------------------------------

std::array<int, 3> Model::traverse(int w) const {
  if (resurrectable(w)) return {-1, -1, -1};  // C++ owners act as roots
  const Wrapper& p = wrappers[w];
  int cpp = -1;
  // Note [Seeing through C++ in traverse]: the C++ pre-hook's object of an owned, live
  // tensor: always in E2, in E4 only while the wrapper is the tensor's only owner.
  if (!is_storage_wrapper(w) && p.cdata == Cdata::Owned && targets[p.target].alive &&
      (interps[p.interp].era == Era::E2 || targets[p.target].n == 1)) {
    cpp = targets[p.target].cpp_hooks;
    if (cpp >= 0 && wrappers[cpp].interp != p.interp) cpp = -1;  // another collector's object
  }
  return {p.peer, p.hooks, cpp};
}

void Model::node_inc(int k) { ++nodes[k].n; }

// Node::release_resources: what its formula saved, its leaf, then its edge.
void Model::node_dec(int k) {
  if (--nodes[k].n > 0) return;
  nodes[k].alive = false;
  const int saved = std::exchange(nodes[k].saved, -1);
  const int variable = std::exchange(nodes[k].variable, -1);
  const int next = std::exchange(nodes[k].next, -1);
  if (saved >= 0 || variable >= 0) ++coverage.saved_releases;
  if (saved >= 0) strong_dec(saved);
  if (variable >= 0) strong_dec(variable);
  if (next >= 0) node_dec(next);
}

// The fake binding's `pow(I, x, 2)` after `x.requires_grad = True` (tensor/autograd.h's
// record(): the output, the edge, the node, what it saves), then the output wrapped.
int Model::pow(int t, int interp) {
  strong_inc(t);  // unpack's copy of x, held to the end
  if (targets[t].grad_fn < 0) targets[t].requires_grad = true;
  const int out = new_tensor();
  int next = targets[t].grad_fn;
  if (next >= 0) {
    node_inc(next);
  } else if (const int acc = targets[t].accumulator; acc >= 0 && nodes[acc].alive) {
    node_inc(acc);
    next = acc;
  } else {
    nodes.push_back(GraphNode{});
    next = static_cast<int>(nodes.size()) - 1;
    nodes[next].n = 1;
    nodes[next].variable = t;  // the accumulator owns its leaf; the leaf holds it weakly
    targets[t].accumulator = next;
    ++coverage.graph_nodes;
    strong_inc(t);
  }
  nodes.push_back(GraphNode{});
  const int node = static_cast<int>(nodes.size()) - 1;
  nodes[node].n = 1;
  nodes[node].next = next;
  ++coverage.graph_nodes;
  nodes[node].saved = t;  // PowBackward0 saves self
  strong_inc(t);
  targets[out].grad_fn = node;
  const int w = wrap(out, interp);
  strong_dec(out);  // the output's temporary handle
  strong_dec(t);    // and x's copy
  return w;
}

void Model::untrack(int w) {
  Interp& i = interps[wrappers[w].interp];
  for (std::vector<int>& gen : i.gens) erase_value(gen, w);
  erase_value(i.unreachable, w);
  erase_value(i.garbage, w);
}

// update_refs, subtract_refs, move_unreachable over `list`, exactly as the real code
// walks it: reachable objects stay (rescued ones re-appended), the rest go to `out`.
void Model::split(std::vector<int>& list, std::vector<int>& out) {
  std::vector<int> refs(wrappers.size(), 0);
  std::vector<char> in_list(wrappers.size(), 0), in_out(wrappers.size(), 0);
  for (int w : list) {
    refs[w] = wrappers[w].r;
    in_list[w] = 1;
  }
  for (int w : list) {
    const std::array<int, 3> reported = traverse(w);
    if (reported[2] >= 0) ++coverage.hooks_seen_through;
    for (const int e : reported) {
      if (e >= 0 && in_list[e]) --refs[e];
    }
  }
  std::size_t i = 0;
  while (i < list.size()) {
    const int w = list[i];
    if (refs[w] != 0) {  // CPython's test: an over-reported (negative) count is a root
      for (const int e : traverse(w)) {
        if (e >= 0 && in_out[e]) {
          erase_value(out, e);
          in_out[e] = 0;
          refs[e] = 1;
          list.push_back(e);
        } else if (e >= 0 && in_list[e] && refs[e] == 0) {
          refs[e] = 1;
        }
      }
      ++i;
    } else {
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
      in_out[w] = 1;
      out.push_back(w);
    }
  }
}

// collect_generations: the oldest generation over its threshold, as the real one.
void Model::safe_point(int interp) {
  const Interp& I = interps[interp];
  if (!I.gc_enabled || I.threshold[0] == 0 || I.count[0] <= I.threshold[0]) return;
  for (int g = Interp::kGenerations - 1; g >= 0; --g) {
    if (I.count[g] > I.threshold[g]) {
      ++coverage.auto_collections;
      collect(interp, g);
      return;
    }
  }
}

void Model::collect(int interp, int generation) {
  Interp& I = interps[interp];
  if (generation + 1 < Interp::kGenerations) ++I.count[generation + 1];
  for (int g = 0; g <= generation; ++g) I.count[g] = 0;
  // The candidates: this generation, then each younger one (the real code's splices).
  std::vector<int> young = std::exchange(I.gens[generation], {});
  for (int g = 0; g < generation; ++g) {
    young.insert(young.end(), I.gens[g].begin(), I.gens[g].end());
    I.gens[g].clear();
  }
  const int older = std::min(generation + 1, Interp::kGenerations - 1);
  split(young, I.unreachable);
  I.gens[older].insert(I.gens[older].end(), young.begin(), young.end());  // survivors age
  // Weakrefs first, then finalizers.  A weakref object is never collected here (the
  // runtime does not track weakrefs), so every cleared one that is alive calls back.
  for (int w : I.unreachable) clear_weakrefs_to(w);
  for (int w : I.unreachable) {
    Wrapper& p = wrappers[w];
    if (p.has_finalizer && !p.finalized) {
      p.finalized = true;
      ++p.finalizer_runs;
      ++finalizer_total;
    }
  }
  split(interps[interp].unreachable, interps[interp].garbage);
  {
    Interp& J = interps[interp];
    J.gens[older].insert(J.gens[older].end(), J.unreachable.begin(), J.unreachable.end());
    J.unreachable.clear();
  }
  while (!interps[interp].garbage.empty()) {
    const int w = interps[interp].garbage.front();
    incref(w);  // held across the clear
    gc_clear(w);
    std::vector<int>& g = interps[interp].garbage;
    if (!g.empty() && g.front() == w) {
      g.erase(g.begin());
      interps[interp].gens[older].push_back(w);
    }
    decref(w);
  }
}

// The wrapper's clear: nothing while resurrectable; else __dict__ then cdata (a
// borrowed one is stubbed).
void Model::gc_clear(int w) {
  if (resurrectable(w)) return;
  ++coverage.gc_clears;
  Wrapper& p = wrappers[w];
  p.foo.reset();
  const int peer = std::exchange(p.peer, -1);
  decref(peer);
  decref(std::exchange(wrappers[w].hooks, -1));
  if (wrappers[w].cdata == Cdata::Borrowed) {
    wrappers[w].cdata = Cdata::Undefined;
  } else if (wrappers[w].cdata == Cdata::Owned) {
    release_cdata(w);
  }
}

int Model::count_live_objects(int interp) const {
  int count = 0;
  for (const Wrapper& w : wrappers) count += (w.alive && w.interp == interp) ? 1 : 0;
  for (const Weakref& wr : weakrefs) count += (wr.alive && wr.interp == interp) ? 1 : 0;
  return count;
}

}  // namespace revive::proof
