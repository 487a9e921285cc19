// The differential runner: see differential.h.
#include "revive/proof/differential.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <variant>

#include "revive/binding/interpreter.h"
#include "revive/pictures/inspect.h"
#include "revive/binding/tensor_methods.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive/tensor/death_watch.h"

namespace revive::proof {

using binding::Interpreter;
using interp::Ref;
using interp::Runtime;
using pictures::SlotState;
using trace::CdataKind;

namespace {

// "I<slot>.<how many interpreters that slot had before>", plus a process-wide serial
// so that names stay unique across scenarios.
std::string interp_name(int slot, long generation) {
  static std::atomic<int> serial{0};
  return "I" + std::to_string(slot) + "." + std::to_string(generation) + "#" + std::to_string(serial++);
}

// The real side of a scenario: interpreters, the scenario's variables and handles, and
// what the comparison needs to find things again.
class Real {
 public:
  explicit Real(const Model& m) : eras_(m.eras) {
    // The process's first interpreter is main, which the trampoline keeps forever (so it
    // is never reclaimed: Note [Reclaiming a dead interpreter]).  Make it here, once, so
    // that every scenario's interpreters can be.
    static const Interpreter* const main = Interpreter::create("differential-main").release();
    (void)main;
    // What an earlier scenario left (one that failed stops half-way) is reclaimed now,
    // not in the middle of this one, so that the counts below are this scenario's base.
    (void)Runtime::reclaim_dead_interpreters();
    base_tensors = TensorImpl::live_count();
    base_nodes = autograd::Node::live_count();
    base_dead = Runtime::dead_interpreter_count();
    for (int slot = 0; slot < kInterpreters; ++slot) {
      start(slot, interp_name(slot, m.interps[m.slot_interp[slot]].generation));
    }
  }

  Real(const Real&) = delete;
  Real& operator=(const Real&) = delete;
  ~Real() { impl::HermeticPyObjectTLS::set_state(false); }

  // Perform `op` (already resolved by the model, which applies it after this); when it
  // raises, what() goes to *error.  Several threads may call it at once for ops whose
  // footprints are disjoint: See Note [Threaded scenarios].
  Outcome apply(const Op& op, const Model& before, std::string* error) {
    try {
      switch (op.kind) {
        case OpKind::NewTensor:
          handles_.push_back(Tensor::empty(1));
          track(handles_.back().storage());
          track(handles_.back());
          return Outcome::Ran;
        case OpKind::NewWrapped: {
          Interpreter& I = *interps_[op.a];
          Ref w = I.empty(1, op.c ? fin_[op.a] : nullptr);
          const Tensor t = I.unpack(w);
          track(t.storage());
          track(t);
          vars_[op.b] = std::move(w);
          return Outcome::Ran;
        }
        case OpKind::Wrap:
          vars_[op.b] = interps_[op.a]->wrap(handles_[op.c]);
          return Outcome::Ran;
        case OpKind::Unpack: {
          Tensor t = home(vars_[op.a]).unpack(vars_[op.a]);
          if (t.defined()) handles_.push_back(std::move(t));
          return Outcome::Ran;
        }
        case OpKind::CopyHandle:
          handles_.push_back(handles_[op.a]);
          return Outcome::Ran;
        case OpKind::SetGrad:
          handles_[op.a].set_grad(op.c != 0 ? Tensor() : handles_[op.b]);
          return Outcome::Ran;
        case OpKind::ShareStorage:
          handles_.push_back(Tensor::from_storage(handles_[op.a].storage(), 1));
          track(handles_.back());
          return Outcome::Ran;
        case OpKind::DropHandle:
          handles_.erase(handles_.begin() + op.a);
          return Outcome::Ran;
        case OpKind::TakeWeak:
          weaks_.emplace_back(handles_[op.a].getIntrusivePtr());
          return Outcome::Ran;
        case OpKind::LockWeak:
          if (auto strong = weaks_[op.a].lock()) handles_.emplace_back(std::move(strong));
          return Outcome::Ran;
        case OpKind::DropWeak:
          weaks_.erase(weaks_.begin() + op.a);
          return Outcome::Ran;
        case OpKind::DropVar:
          vars_[op.a].reset();
          return Outcome::Ran;
        case OpKind::CopyVar:
          vars_[op.b] = vars_[op.a];
          return Outcome::Ran;
        case OpKind::SetFoo:
          home(vars_[op.a]).setattr(vars_[op.a], "foo", before.next_foo);
          return Outcome::Ran;
        case OpKind::SetPeer:
          home(vars_[op.a]).setattr(vars_[op.a], "peer", interp::Value{vars_[op.b]});
          return Outcome::Ran;
        case OpKind::MakeWeakref: {
          interp::WeakCallback callback;
          if (op.c != 0) {
            // Counts its runs, and checks CPython's order: the weakref is cleared
            // before its callback runs, so it reads None there.
            callback = [counts = counts_](Runtime& rt, const Ref& weakref) {
              const bool early = !rt.deref(weakref).is_none();
              const std::lock_guard lock(counts->mutex);
              ++counts->callback_runs[weakref->id];
              ++counts->callback_total;
              if (early) ++counts->early_callbacks;
            };
          }
          weakref_vars_[op.b] = home(vars_[op.a]).weakref(vars_[op.a], std::move(callback));
          return Outcome::Ran;
        }
        case OpKind::Deref:
          vars_[op.b] = home(weakref_vars_[op.a]).deref(weakref_vars_[op.a]);
          return Outcome::Ran;
        case OpKind::DropWeakref:
          weakref_vars_[op.a].reset();
          return Outcome::Ran;
        case OpKind::FixWeakref:
          home(vars_[op.a]).fix_weakref(vars_[op.a]);
          return Outcome::Ran;
        case OpKind::Hermetic:
          impl::HermeticPyObjectTLS::set_state(op.a != 0);
          return Outcome::Ran;
        case OpKind::Teardown: {
          interps_[op.a].reset();
          start(op.a, interp_name(op.a, std::count(before.slot_of.begin(), before.slot_of.end(), op.a)));
          return Outcome::Ran;
        }
        case OpKind::Collect:
          (void)interps_[op.a]->gc_collect();
          return Outcome::Ran;
        case OpKind::AutoGc:
          interps_[op.a]->gc_set_threshold(op.b, 2, 2);
          interps_[op.a]->gc_enable();
          return Outcome::Ran;
        case OpKind::StorageOf: {
          Interpreter& I = home(vars_[op.a]);
          Ref s = binding::untyped_storage(I, vars_[op.a]);
          // A storage another interpreter tagged comes back as a new StorageImpl.
          const Storage got = I.unpack_storage(s);
          if (got.unsafeGetStorageImpl() != I.unpack(vars_[op.a]).storage().unsafeGetStorageImpl()) track(got);
          vars_[op.b] = std::move(s);
          return Outcome::Ran;
        }
        case OpKind::TensorOf: {
          Interpreter& I = home(vars_[op.a]);
          Ref t = binding::tensor_from_storage(I, vars_[op.a]);
          track(I.unpack(t));
          vars_[op.b] = std::move(t);
          return Outcome::Ran;
        }
        case OpKind::NewStorage: {
          Interpreter& I = *interps_[op.a];
          Ref s = I.new_storage(16);
          track(I.unpack_storage(s));
          vars_[op.b] = std::move(s);
          return Outcome::Ran;
        }
        case OpKind::Pow: {
          // x.requires_grad = True (a leaf that does not yet), then y = x ** 2.
          Interpreter& I = home(vars_[op.a]);
          if (binding::is_leaf(I, vars_[op.a]) && !binding::requires_grad(I, vars_[op.a])) {
            binding::set_requires_grad(I, vars_[op.a], true);
          }
          Ref y = binding::pow(I, vars_[op.a], 2);
          const Tensor t = I.unpack(y);
          track(t.storage());
          track(t);
          vars_[op.b] = std::move(y);
          return Outcome::Ran;
        }
        case OpKind::SetHooks:
          binding::set_backward_hooks(home(vars_[op.a]), vars_[op.a], vars_[op.b]);
          return Outcome::Ran;
        case OpKind::kCount: break;
      }
    } catch (const Error& e) {
      if (error != nullptr) *error = e.what();
      return Outcome::Raised;
    }
    return Outcome::Skipped;
  }

  // The model's finish(), with as many rounds of collections as it made.
  void finish(int rounds) {
    impl::HermeticPyObjectTLS::set_state(false);
    for (Ref& v : vars_) v.reset();
    for (Ref& r : weakref_vars_) r.reset();
    while (!handles_.empty()) handles_.pop_back();
    weaks_.clear();
    for (int round = 0; round < rounds; ++round) {
      for (auto& I : interps_) (void)I->gc_collect();
    }
  }

  // Tear everything down; then the process-wide counts can be compared.
  void close() {
    for (auto& I : interps_) I.reset();
    tracked_.clear();
    unsettled_.clear();
    settled_.clear();
    settled_count_ = 0;
    cursor_ = 0;
  }

  // `all`: every tracked target; else the step's window: See Note [Comparing a long scenario].
  std::optional<std::string> compare(const Model& m, bool all = false);
  std::optional<std::string> check_invariants(const Model& m);

  // `text` with this runtime's interpreter names written as their slots (with_slot_names).
  [[nodiscard]] std::string slot_names(std::string text) const {
    std::array<std::string, kInterpreters> names;
    for (int slot = 0; slot < kInterpreters; ++slot) names[slot] = interps_[slot]->name();
    return with_slot_names(std::move(text), names);
  }

  std::array<Interpreter::Owner, kInterpreters> interps_;
  Eras eras_;
  std::int64_t base_tensors = 0;  // both measured once the graveyard was swept
  std::int64_t base_nodes = 0;
  std::size_t base_dead = 0;

 private:
  // A fresh interpreter in `slot`; the model's interpreters are numbered in creation
  // order, and so are real_names_.
  void start(int slot, std::string name) {
    interps_[slot] = Interpreter::create(std::move(name), eras_[slot] == Era::E4 ? binding::Era::E4 : binding::Era::E2);
    real_names_.push_back(interps_[slot]->name());
    interps_[slot]->gc_disable();  // automatic collections once an AutoGc op asks
    fin_[slot] = interps_[slot]->new_class(
        "Fin", interps_[slot]->tensor_type(), interp::ClassSpec{std::nullopt, [counts = counts_](Runtime&, const Ref& self) {
          const std::lock_guard lock(counts->mutex);
          if (++counts->finalizer_runs[self->id] == 2) counts->twice = self->id;
          ++counts->finalizer_total;
        }});
  }
  // Tensors are followed through a weak reference (their memory stays, so a dead one
  // can still be told dead).  Storages are watched instead: a weak reference would
  // keep a storage's zombie recorded past its death (Note [Two counts and
  // release_resources]) and change what is compared.
  void track(const Tensor& t) {
    unsettled_.push_back(tracked_.size());
    Tracked& k = tracked_.emplace_back();
    k.tensor = weak_intrusive_ptr<TensorImpl>(t.getIntrusivePtr());
    k.impl = t.unsafeGetTensorImpl();
  }
  void track(const Storage& s) {
    unsettled_.push_back(tracked_.size());
    Tracked& k = tracked_.emplace_back();
    k.watch = std::make_unique<DeathWatch>(s.unsafeGetStorageImpl());
    k.impl = s.unsafeGetStorageImpl();
  }
  static Interpreter& home(const Ref& o) { return Interpreter::of(*o->interp); }

  // Bind a model wrapper to a real object id on first sight; afterwards both must agree.
  std::optional<std::string> same(int model_w, const PyObject* real, const char* where) {
    if (real == nullptr) {
      return std::string(where) + ": real has no object, model has wrapper " + std::to_string(model_w);
    }
    if (model_w < 0) return std::string(where) + ": real has an object, model has None";
    auto [it, fresh] = real_to_model_.try_emplace(real->id, model_w);
    if (it->second != model_w) {
      return std::string(where) + ": real object #" + std::to_string(real->id) + " is model wrapper " +
             std::to_string(it->second) + ", expected " + std::to_string(model_w);
    }
    if (fresh) {
      if (model_to_real_.size() <= static_cast<std::size_t>(model_w)) model_to_real_.resize(model_w + 1, 0);
      if (model_to_real_[model_w] != 0 && model_to_real_[model_w] != real->id) {
        return std::string(where) + ": model wrapper " + std::to_string(model_w) + " was real #" +
               std::to_string(model_to_real_[model_w]) + ", now #" + std::to_string(real->id);
      }
      model_to_real_[model_w] = real->id;
    }
    return std::nullopt;
  }

  // What the finalizers and weakref callbacks count, from whichever thread runs them
  // (read by the comparison only while no op runs).
  struct Counts {
    std::mutex mutex;
    std::map<std::uint64_t, int> finalizer_runs;  // by object id
    std::map<std::uint64_t, int> callback_runs;   // by weakref object id
    // Kept as they run, so that a step's comparison need not walk every run so far.
    int callback_total = 0;
    int finalizer_total = 0;
    std::uint64_t twice = 0;  // an object whose finalizer ran a second time (invariant 8)
    int early_callbacks = 0;  // callbacks that still saw their referent (CPython's order forbids it)
  };
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  std::array<const interp::PyType*, kInterpreters> fin_{};
  Ref vars_[kVars];
  Ref weakref_vars_[kWeakrefVars];
  std::vector<Tensor> handles_;
  std::vector<weak_intrusive_ptr<TensorImpl>> weaks_;
  // Per model target, in order: a TensorImpl or a StorageImpl, and how to tell it alive.
  struct Tracked {
    weak_intrusive_ptr<TensorImpl> tensor;  // a tensor's (null for a storage)
    std::unique_ptr<DeathWatch> watch;      // a storage's (null for a tensor)
    std::variant<const TensorImpl*, const StorageImpl*> impl;  // read only while alive

    [[nodiscard]] bool alive() const { return watch ? watch->alive() : !tensor.expired(); }
    [[nodiscard]] std::uint32_t strong() const {
      return std::visit([](const auto* p) { return p->refcount(); }, impl);
    }
    [[nodiscard]] const impl::PyObjectSlot* slot() const {
      return std::visit([](const auto* p) { return p->pyobj_slot(); }, impl);
    }
    [[nodiscard]] pictures::Snapshot inspect(const trace::RuntimeView& interp) const {
      return std::visit([&](const auto* p) { return pictures::inspect(interp, p); }, impl);
    }
  };
  std::vector<Tracked> tracked_;
  // The tracked targets not yet seen dead on both sides, in order.  A death is final on
  // both (a count that reached 0 never rises; the model never revives a target), so one
  // seen dead by both is never compared again: a step's comparison costs what is alive,
  // not everything a long scenario ever made (revive-campaign --length 100000).
  std::vector<std::size_t> unsettled_;
  std::vector<char> settled_;      // per tracked target: seen dead on both sides
  std::size_t settled_count_ = 0;  // of those still in unsettled_
  // Note [Comparing a long scenario]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // Every step compares the real runtime with the model target by target, which costs
  // what is alive.  A scenario of 10^5 ops keeps thousands of targets alive (held by
  // C++ handles, by dead interpreters that stay reachable), and comparing all of them
  // after every step made its time grow with the square of its length.  So while at
  // most kWindow (64) targets are alive every one is compared after every step, as before;
  // beyond that each step compares kWindow of them, the window moving on round the
  // list, so every live target is compared at least once every alive / kWindow steps,
  // and the end of the scenario compares all of them.  A divergence is then found a
  // few steps late at worst, and shrinking, whose scenarios are short, pins it to its
  // step.  Campaigns' scenarios (200 ops) never reach the window.
  static constexpr std::size_t kWindow = 64;
  std::size_t cursor_ = 0;
  std::vector<std::size_t> window_;  // this step's targets (compare, then check_invariants)
  std::vector<std::string> real_names_;  // per model interpreter
  std::map<std::uint64_t, int> real_to_model_;
  std::vector<std::uint64_t> model_to_real_;
  std::map<std::size_t, std::string> first_tag_;  // invariant 1
};

const char* cdata_name(Cdata c) {
  switch (c) {
    case Cdata::Owned: return "owned";
    case Cdata::Borrowed: return "borrowed";
    case Cdata::Undefined: return "undefined";
  }
  return "?";
}

CdataKind as_kind(Cdata c) {
  switch (c) {
    case Cdata::Owned: return CdataKind::Owned;
    case Cdata::Borrowed: return CdataKind::Borrowed;
    case Cdata::Undefined: return CdataKind::Undefined;
  }
  return CdataKind::Undefined;
}

// "tensor 3" or "storage 4": model target t, named by its kind.
std::string name(const Model& m, std::size_t t) {
  return (m.targets[t].is_storage ? "storage " : "tensor ") + std::to_string(t);
}

std::optional<std::string> Real::compare(const Model& m, bool all) {
  std::ostringstream err;
  settled_.resize(tracked_.size(), 0);
  window_.clear();
  if (all || unsettled_.size() <= kWindow) {
    window_ = unsettled_;
  } else {
    for (std::size_t k = 0; k < kWindow; ++k) window_.push_back(unsettled_[(cursor_ + k) % unsettled_.size()]);
    cursor_ = (cursor_ + kWindow) % unsettled_.size();
  }
  if (tracked_.size() != m.targets.size()) {
    err << "real tracks " << tracked_.size() << " tensors and storages, model " << m.targets.size();
    return err.str();
  }
  // Tensors, seen from each live interpreter.
  for (const std::size_t t : window_) {
    const Target& mt = m.targets[t];
    const bool alive = tracked_[t].alive();
    if (alive != mt.alive) {
      err << name(m, t) << ": real " << (alive ? "alive" : "dead") << ", model " << (mt.alive ? "alive" : "dead");
      return err.str();
    }
    if (!alive) {
      if (settled_[t] == 0) {
        settled_[t] = 1;
        ++settled_count_;
      }
      continue;
    }
    const auto n = tracked_[t].strong();
    if (static_cast<int>(n) != mt.n) {
      err << name(m, t) << ": real n = " << n << ", model n = " << mt.n;
      return err.str();
    }
    for (int slot = 0; slot < kInterpreters; ++slot) {
      const int me = m.slot_interp[slot];
      const pictures::Snapshot s = tracked_[t].inspect(*interps_[slot]);
      SlotState want = SlotState::U;
      if (mt.tag >= 0 && mt.tag != me) want = SlotState::X;
      else if (mt.tag == me) want = mt.recorded < 0 ? SlotState::V : (mt.owns ? SlotState::Z : SlotState::L);
      const std::string want_tag = mt.tag < 0                  ? std::string("-")
                                   : m.interps[mt.tag].alive ? real_names_[mt.tag]
                                                             : std::string("<unloaded interpreter>");
      if (s.state != want) {
        err << name(m, t) << " seen from " << interps_[slot]->name() << ": real state " << to_string(s.state)
            << ", model " << to_string(want);
        return err.str();
      }
      if (s.tag != want_tag) {
        err << name(m, t) << ": real tag " << s.tag << ", model " << want_tag;
        return err.str();
      }
      if (want == SlotState::L || want == SlotState::Z) {
        const Wrapper& p = m.wrappers[mt.recorded];
        if (auto e = same(mt.recorded, s.recorded, "recorded wrapper")) return name(m, t) + ": " + *e;
        if (s.refcnt != p.r) {
          err << name(m, t) << ": recorded wrapper r = " << s.refcnt << ", model r = " << p.r;
          return err.str();
        }
        if (s.cdata != as_kind(p.cdata)) {
          err << name(m, t) << ": recorded wrapper cdata " << to_string(s.cdata) << ", model "
              << cdata_name(p.cdata);
          return err.str();
        }
      }
    }
  }
  // Dead on both sides, and agreed: settled for good, and dropped once they are many.
  if (settled_count_ * 4 > unsettled_.size()) {
    std::erase_if(unsettled_, [&](std::size_t t) { return settled_[t] != 0; });
    settled_count_ = 0;
    cursor_ = 0;
  }
  // Variables.
  for (int v = 0; v < kVars; ++v) {
    const int w = m.held.vars[v];
    if (vars_[v].is_none() != (w < 0)) {
      err << "v" << v << ": real " << (vars_[v].is_none() ? "None" : "an object") << ", model "
          << (w < 0 ? "None" : "wrapper " + std::to_string(w));
      return err.str();
    }
    if (w < 0) continue;
    if (auto e = same(w, vars_[v].get(), "variable")) return "v" + std::to_string(v) + ": " + *e;
    if (m.abandoned(w)) continue;
    Interpreter& I = home(vars_[v]);
    if (I.refcnt(vars_[v].get()) != m.wrappers[w].r) {
      err << "v" << v << ": real r = " << I.refcnt(vars_[v].get()) << ", model r = " << m.wrappers[w].r;
      return err.str();
    }
    const bool has_foo = I.hasattr(vars_[v], "foo");
    if (has_foo != m.wrappers[w].foo.has_value() ||
        (has_foo && std::get<std::int64_t>(I.getattr(vars_[v], "foo")) != *m.wrappers[w].foo)) {
      err << "v" << v << ": foo differs (real " << (has_foo ? "set" : "unset") << ", model "
          << (m.wrappers[w].foo ? std::to_string(*m.wrappers[w].foo) : "unset") << ")";
      return err.str();
    }
  }
  // Weakrefs.
  for (int k = 0; k < kWeakrefVars; ++k) {
    const int wr = m.held.weakref_vars[k];
    if (weakref_vars_[k].is_none() != (wr < 0)) {
      err << "r" << k << ": real and model disagree on whether it is held";
      return err.str();
    }
    if (wr < 0 || !m.interps[m.weakrefs[wr].interp].alive) continue;
    Ref referent = home(weakref_vars_[k]).deref(weakref_vars_[k]);
    const int want = m.weakrefs[wr].referent;
    if (referent.is_none() != (want < 0)) {
      err << "r" << k << "(): real " << (referent.is_none() ? "None" : "an object") << ", model "
          << (want < 0 ? "None" : "wrapper " + std::to_string(want));
      return err.str();
    }
    if (want >= 0) {
      if (auto e = same(want, referent.get(), "weakref referent")) return "r" + std::to_string(k) + "(): " + *e;
    }
    const auto it = counts_->callback_runs.find(weakref_vars_[k]->id);
    const int calls = it == counts_->callback_runs.end() ? 0 : it->second;
    if (calls != m.weakrefs[wr].callback_runs) {
      err << "r" << k << ": real callback ran " << calls << " times, model " << m.weakrefs[wr].callback_runs;
      return err.str();
    }
  }
  if (counts_->early_callbacks != 0) {
    err << "a weakref callback read its referent: callbacks must run after the weakrefs are cleared";
    return err.str();
  }
  // Callbacks of weakrefs no variable holds any more: the totals must agree too.
  {
    const int real_total = counts_->callback_total, model_total = m.callback_total;
    if (real_total != model_total) {
      err << "weakref callbacks: real ran " << real_total << " in all, model " << model_total;
      return err.str();
    }
  }
  // Interpreters, finalizers.
  for (int slot = 0; slot < kInterpreters; ++slot) {
    const int me = m.slot_interp[slot];
    const auto live = static_cast<int>(interps_[slot]->live_objects());
    if (live != m.live_objects(me)) {
      err << interps_[slot]->name() << ": real " << live << " live objects, model " << m.live_objects(me);
      return err.str();
    }
    if (all && m.live_objects(me) != m.count_live_objects(me)) {
      err << "the model keeps " << m.live_objects(me) << " live objects for " << interps_[slot]->name()
          << " but counts " << m.count_live_objects(me);
      return err.str();
    }
    const auto warnings = static_cast<int>(interps_[slot]->warnings().size());
    if (warnings != m.interps[me].warnings) {
      err << interps_[slot]->name() << ": real " << warnings << " warnings, model " << m.interps[me].warnings;
      return err.str();
    }
  }
  // Finalizers: the totals after every step; which wrapper's ran, wrapper by wrapper,
  // while the scenario is short and at its end (Note [Comparing a long scenario]).
  if (counts_->finalizer_total != m.finalizer_total) {
    err << "finalizers: real ran " << counts_->finalizer_total << " in all, model " << m.finalizer_total;
    return err.str();
  }
  const bool each_wrapper = all || m.wrappers.size() <= 4 * kWindow;
  for (std::size_t w = 0; each_wrapper && w < m.wrappers.size() && w < model_to_real_.size(); ++w) {
    if (model_to_real_[w] == 0 || !m.wrappers[w].has_finalizer) continue;
    const auto it = counts_->finalizer_runs.find(model_to_real_[w]);
    const int real_runs = it == counts_->finalizer_runs.end() ? 0 : it->second;
    if (real_runs != m.wrappers[w].finalizer_runs) {
      err << "wrapper " << w << ": __del__ ran " << real_runs << " time(s), model "
          << m.wrappers[w].finalizer_runs;
      return err.str();
    }
  }
  return std::nullopt;
}

// §7, checked on the real state (the model agrees with it by the time this runs).
std::optional<std::string> Real::check_invariants(const Model& m) {
  std::ostringstream err;
  for (const std::size_t t : window_) {
    if (!tracked_[t].alive()) continue;
    const impl::PyObjectSlot* slot = tracked_[t].slot();
    // 1. The tag is set at most once and never changes (disarm does not clear it).
    const impl::PyInterpreter* tag = slot->pyobj_interpreter();
    if (tag != nullptr) {
      std::ostringstream key;
      key << static_cast<const void*>(tag);
      auto [it, fresh] = first_tag_.try_emplace(t, key.str());
      if (!fresh && it->second != key.str()) {
        err << "invariant 1: " << name(m, t) << " changed its tag";
        return err.str();
      }
    } else if (first_tag_.count(t) != 0) {
      err << "invariant 1: " << name(m, t) << " lost its tag";
      return err.str();
    }
    const Target& mt = m.targets[t];
    if (mt.tag < 0 || !m.interps[mt.tag].alive || mt.recorded < 0) continue;
    const Wrapper& p = m.wrappers[mt.recorded];
    // 3. Hermetic wrappers are never recorded.
    if (p.hermetic) {
      err << "invariant 3: " << name(m, t) << " records a hermetic wrapper";
      return err.str();
    }
    // 4. owns == 0 <=> cdata owned (owns == 1 with cdata undefined: a zombie the
    //    collector cleared: See Note [Cycle collection and preservation]).
    const bool owns = slot->owns_pyobj();
    if (owns == (p.cdata == Cdata::Owned)) {
      err << "invariant 4: " << name(m, t) << ": owns = " << owns << " with cdata " << cdata_name(p.cdata);
      return err.str();
    }
    // 5. In Z, r == 1 except through the weakref hole.
    if (owns && p.r != 1 && !p.revived_by_weakref) {
      err << "invariant 5: zombie of " << name(m, t) << " has r = " << p.r;
      return err.str();
    }
  }
  // 8. A finalizer runs at most once.
  if (counts_->twice != 0) {
    err << "invariant 8: __del__ of object #" << counts_->twice << " ran " << counts_->finalizer_runs[counts_->twice]
        << " times";
    return err.str();
  }
  return std::nullopt;
}

// 9. After everything is dropped and collected, what is left must be held, directly or
// not, by an object its interpreter's teardown abandoned, or by a cycle through a C++
// grad (the collector cannot see through C++; PyTorch leaks such a cycle too, and
// teardown abandons it, to be reclaimed with its interpreter).
std::optional<std::string> unexplained_leftovers(const Model& m) {
  // Nodes: wrappers, then targets.  What keeps what: a wrapper its peer and its cdata
  // (a borrowed one too: a zombie and its tensor go together), a target its grad, its
  // storage and the wrapper its slot records (owned, or made a root by C++'s hold).
  // Autograd nodes come after the targets: a target holds its grad_fn and its C++
  // pre-hook's object, a node what it saved, its leaf and its edge; a wrapper its hooks.
  const auto W = static_cast<int>(m.wrappers.size());
  const auto N0 = W + static_cast<int>(m.targets.size());
  auto edges = [&](int node) {
    std::vector<int> out;
    if (node < W) {
      const Wrapper& p = m.wrappers[node];
      if (p.peer >= 0) out.push_back(p.peer);
      if (p.hooks >= 0) out.push_back(p.hooks);
      if (p.cdata != Cdata::Undefined) out.push_back(W + p.target);
    } else if (node < N0) {
      const Target& t = m.targets[node - W];
      if (t.recorded >= 0) out.push_back(t.recorded);
      if (t.grad >= 0) out.push_back(W + t.grad);
      if (t.cpp_hooks >= 0) out.push_back(t.cpp_hooks);
      if (t.grad_fn >= 0) out.push_back(N0 + t.grad_fn);
      if (t.storage >= 0) out.push_back(W + t.storage);
    } else {
      const GraphNode& n = m.nodes[node - N0];
      if (n.saved >= 0) out.push_back(W + n.saved);
      if (n.variable >= 0) out.push_back(W + n.variable);
      if (n.next >= 0) out.push_back(N0 + n.next);
    }
    return out;
  };
  auto alive = [&](int node) {
    return node < W ? m.wrappers[node].alive : node < N0 ? m.targets[node - W].alive : m.nodes[node - N0].alive;
  };
  std::vector<char> kept(m.wrappers.size() + m.targets.size() + m.nodes.size(), 0);
  std::vector<int> work;
  auto keep = [&](int node) {
    if (!kept[node]) {
      kept[node] = 1;
      work.push_back(node);
    }
  };
  for (int w = 0; w < W; ++w) {
    if (m.wrappers[w].alive && m.abandoned(w)) keep(w);
  }
  // A live tensor whose C++ side (its grad, its grad_fn, its pre-hook's object) leads
  // back to it.  Not only through owning references: a slot's record of a live wrapper
  // counts too, because C++ holding that tensor makes the wrapper resurrectable (E2) or
  // held by C++ (E4), so the collector treats it as a root.  So w2 -> t8 -grad-> t3
  // (recorded: w3) -> w3.peer == w2 is such a cycle, though w3 owns t3; and so is
  // w3 -peer-> w5 -> t9 -grad_fn-> PowBackward0 -saved-> t3, the kind PyTorch leaks too.
  for (std::size_t t = 0; t < m.targets.size(); ++t) {
    const Target& mt = m.targets[t];
    if (!mt.alive || (mt.grad < 0 && mt.grad_fn < 0 && mt.cpp_hooks < 0)) continue;
    std::vector<char> seen(kept.size(), 0);
    std::vector<int> path;
    if (mt.grad >= 0) path.push_back(W + mt.grad);
    if (mt.grad_fn >= 0) path.push_back(N0 + mt.grad_fn);
    if (mt.cpp_hooks >= 0) path.push_back(mt.cpp_hooks);
    while (!path.empty()) {
      const int node = path.back();
      path.pop_back();
      if (seen[node] || !alive(node)) continue;
      seen[node] = 1;
      if (node == W + static_cast<int>(t)) {
        keep(node);
        break;
      }
      for (int next : edges(node)) path.push_back(next);
    }
  }
  while (!work.empty()) {
    const int node = work.back();
    work.pop_back();
    for (int next : edges(node)) keep(next);
  }
  for (std::size_t t = 0; t < m.targets.size(); ++t) {
    if (m.targets[t].alive && !kept[W + t]) return "invariant 9: " + name(m, t) + " leaked";
  }
  for (int w = 0; w < W; ++w) {
    if (m.wrappers[w].alive && !kept[w]) return "invariant 9: wrapper " + std::to_string(w) + " leaked";
  }
  for (std::size_t k = 0; k < m.nodes.size(); ++k) {
    if (m.nodes[k].alive && !kept[N0 + k]) return "invariant 9: autograd node " + std::to_string(k) + " leaked";
  }
  return std::nullopt;
}

// "the real code raised (...), the model did not", or nothing when they agree.
std::optional<std::string> outcome_mismatch(Outcome got, Outcome want, const std::string& error) {
  if (got == want) return std::nullopt;
  return std::string("the real code ") + (got == Outcome::Raised ? "raised (" + error + ")" : "did not raise") +
         ", the model " + (want == Outcome::Raised ? "raised" : "did not");
}

// Whether the fake's error and a witness's are the same: PyTorch's texts (a RuntimeError,
// or a C++ error) word for word; a TypeError, which each runtime words for its own
// objects ("expected Tensor but got UntypedStorage" names a class each spells its way),
// by its kind.
bool same_error(const std::string& fake, const std::string& witness) {
  const std::string_view type_error = "TypeError: ";
  if (fake.starts_with(type_error)) return witness.starts_with(type_error);
  return fake == witness;
}

// Sequentially: resolve, apply to both (to all three, with a witness), compare, step
// after step.
std::optional<Failure> run_steps(const std::vector<Op>& ops, Model& model, Real& real, ScenarioStats* stats,
                                 Witness* witness) {
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const std::optional<Op> op = model.resolve(ops[i]);
    if (!op || (witness != nullptr && !witness->performs(*op, model))) continue;
    if (stats != nullptr) ++stats->steps;
    std::string error;
    const Outcome got = real.apply(*op, model, &error);  // the model before the step
    std::string witness_error;
    const Outcome witnessed = witness != nullptr ? witness->apply(*op, model, &witness_error) : Outcome::Skipped;
    const Outcome want = model.apply(*op);
    if (auto e = outcome_mismatch(got, want, error)) return Failure{i, *e};
    if (witness != nullptr) {
      if (auto e = outcome_mismatch(witnessed, want, witness_error)) return Failure{i, "witness: " + *e};
      if (want == Outcome::Raised && !same_error(real.slot_names(error), witness_error)) {
        return Failure{i, "the two runtimes raised different errors: fake \"" + error + "\", witness \"" +
                              witness_error + "\""};
      }
    }
    if (auto e = real.compare(model)) return Failure{i, *e};
    if (auto e = real.check_invariants(model)) return Failure{i, *e};
    if (witness != nullptr) {
      if (auto e = witness->compare(model)) return Failure{i, "witness: " + *e};
    }
  }
  return std::nullopt;
}

// ---- threaded scenarios --------------------------------------------------------------

// Note [Threaded scenarios]
// ~~~~~~~~~~~~~~~~~~~~~~~~~
// The model is sequential and threads are not, so a threaded run keeps the model's
// verdict exact by running at once only ops that commute.  Each op goes to the thread
// of the interpreter it runs in (one thread per interpreter slot, as torchdeploy gives
// each interpreter its own threads): a variable's op to its wrapper's interpreter, a
// C++ op (a handle copied or dropped) to thread i mod N.  Ops are gathered into rounds:
// an op joins the current round only if its footprint is disjoint from those of the
// other threads' ops there: what it reads (the variables, handles, weakrefs, wrappers
// and C++ objects it names, and what they lead to) must not be written by them, and
// what it writes (everything the model saw change when it applied the op, a release
// that reaches into another interpreter included) must be neither read nor written by
// them.  Ops of one thread keep their order.  Every interleaving of a round then ends
// in the state the model reached in sequential order, and the comparison after each
// round is as exact as after each step of a sequential run.
// What runs at once is what matters to the design: a wrapper dying in I0 whose
// release drops a C++ object whose zombie lives in I1, taking I1's GIL, while I1's
// thread does the mirror image (Note [GIL order across interpreters]).  A thread that
// kept its GIL across such a release would deadlock the round; the watchdog then
// aborts with the replay line.  ThreadSanitizer, in CI, checks the memory accesses.
// Left out, because their effect depends on more than the footprint: hermetic on/off
// and teardown run alone in their round (hermetic mode is per thread, so every thread
// switches; teardown's sweep reads every dead interpreter's tags), and AutoGc ops are
// skipped: a threshold counts allocations and frees, and a free made by another
// thread would move the next automatic collection.

// A resource an op reads or writes: a kind and an index.
enum class Res : std::uint64_t { Target, Wrapper, Weakref, Var, WeakrefVar, Handles, Weaks, Targets };
constexpr std::uint64_t res(Res kind, std::size_t index = 0) {
  return (static_cast<std::uint64_t>(kind) << 32) | index;
}

struct Footprint {
  std::vector<std::uint64_t> reads, writes;
  int thread = 0;
  bool alone = false;  // runs in a round of its own
};

// What `op`, the i-th of its scenario, touches: `before` and `after` are the model
// around it.
Footprint footprint(const Model& before, const Model& after, const Op& op, std::size_t i) {
  Footprint f;
  auto& reads = f.reads;
  auto target = [&](int t) {
    if (t < 0) return;
    reads.push_back(res(Res::Target, t));
    const Target& x = before.targets[t];
    if (x.storage >= 0) reads.push_back(res(Res::Target, x.storage));
    if (x.grad >= 0) reads.push_back(res(Res::Target, x.grad));
    if (x.tag >= 0 && x.recorded >= 0) reads.push_back(res(Res::Wrapper, x.recorded));
  };
  auto wrapper = [&](int w) {
    if (w < 0) return;
    reads.push_back(res(Res::Wrapper, w));
    target(before.wrappers[w].target);
  };
  auto var = [&](int v) {
    reads.push_back(res(Res::Var, v));
    wrapper(before.held.vars[v]);
  };
  auto weakref_var = [&](int k) {
    reads.push_back(res(Res::WeakrefVar, k));
    if (const int wr = before.held.weakref_vars[k]; wr >= 0) {
      reads.push_back(res(Res::Weakref, wr));
      wrapper(before.weakrefs[wr].referent);
    }
  };
  auto handle = [&](int h) {
    reads.push_back(res(Res::Handles));
    target(before.held.handles[h]);
  };
  auto weak = [&](int h) {
    reads.push_back(res(Res::Weaks));
    target(before.held.weaks[h]);
  };
  // The thread of interpreter m's slot; an op on a dead interpreter's objects can run
  // anywhere.
  const int any = static_cast<int>(i % kInterpreters);
  auto thread_of = [&](int m) { return before.interps[m].alive ? before.slot_of[m] : any; };
  auto thread_of_var = [&](int v) {
    const int w = before.held.vars[v];
    return w < 0 ? any : thread_of(before.wrappers[w].interp);
  };
  f.thread = any;
  switch (op.kind) {
    case OpKind::NewTensor: reads.push_back(res(Res::Handles)); break;
    case OpKind::NewWrapped:
    case OpKind::NewStorage:
      f.thread = op.a;
      var(op.b);
      break;
    case OpKind::Wrap:
      f.thread = op.a;
      var(op.b);
      handle(op.c);
      break;
    case OpKind::Unpack:
      f.thread = thread_of_var(op.a);
      var(op.a);
      reads.push_back(res(Res::Handles));
      break;
    case OpKind::CopyHandle:
    case OpKind::DropHandle:
    case OpKind::ShareStorage: handle(op.a); break;
    case OpKind::SetGrad:
      handle(op.a);
      handle(op.b);
      break;
    case OpKind::TakeWeak:
      handle(op.a);
      reads.push_back(res(Res::Weaks));
      break;
    case OpKind::LockWeak:
      weak(op.a);
      reads.push_back(res(Res::Handles));
      break;
    case OpKind::DropWeak: weak(op.a); break;
    case OpKind::DropVar:
    case OpKind::SetFoo:
    case OpKind::FixWeakref:
      f.thread = thread_of_var(op.a);
      var(op.a);
      break;
    case OpKind::CopyVar:
    case OpKind::SetPeer:
    case OpKind::StorageOf:
    case OpKind::TensorOf:
      f.thread = thread_of_var(op.a);
      var(op.a);
      var(op.b);
      break;
    case OpKind::MakeWeakref:
      f.thread = thread_of_var(op.a);
      var(op.a);
      weakref_var(op.b);
      break;
    case OpKind::Deref:
    case OpKind::DropWeakref:
      f.thread = thread_of(before.weakrefs[before.held.weakref_vars[op.a]].interp);
      weakref_var(op.a);
      var(op.b);
      break;
    case OpKind::Collect: {
      // The collector reads every object of its interpreter.
      f.thread = op.a;
      const int me = before.slot_interp[op.a];
      for (std::size_t w = 0; w < before.wrappers.size(); ++w) {
        if (before.wrappers[w].alive && before.wrappers[w].interp == me) wrapper(static_cast<int>(w));
      }
      for (std::size_t k = 0; k < before.weakrefs.size(); ++k) {
        if (before.weakrefs[k].alive && before.weakrefs[k].interp == me) reads.push_back(res(Res::Weakref, k));
      }
      break;
    }
    case OpKind::Teardown:
      f.thread = op.a;
      f.alone = true;
      break;
    case OpKind::Hermetic:
    case OpKind::AutoGc: f.alone = true; break;
    // The graph's nodes and a tensor's hooks are not resources the footprints name:
    // these run alone.
    case OpKind::Pow:
    case OpKind::SetHooks: f.alone = true; break;
    case OpKind::kCount: break;
  }
  // The variables it assigns, even to the object they already hold (the runner's own
  // memory is written all the same), the tensor whose grad it sets (likewise), and
  // whatever the model saw change.
  auto& writes = f.writes;
  switch (op.kind) {
    case OpKind::NewWrapped:
    case OpKind::Wrap:
    case OpKind::CopyVar:
    case OpKind::Deref:
    case OpKind::StorageOf:
    case OpKind::TensorOf:
    case OpKind::NewStorage: writes.push_back(res(Res::Var, op.b)); break;
    case OpKind::DropVar: writes.push_back(res(Res::Var, op.a)); break;
    case OpKind::MakeWeakref: writes.push_back(res(Res::WeakrefVar, op.b)); break;
    case OpKind::DropWeakref: writes.push_back(res(Res::WeakrefVar, op.a)); break;
    case OpKind::SetGrad: writes.push_back(res(Res::Target, before.held.handles[op.a])); break;
    default: break;
  }
  auto changed = [&](Res kind, const auto& was, const auto& now) {
    for (std::size_t k = 0; k < now.size(); ++k) {
      if (k >= was.size() || !(was[k] == now[k])) writes.push_back(res(kind, k));
    }
  };
  changed(Res::Target, before.targets, after.targets);
  changed(Res::Wrapper, before.wrappers, after.wrappers);
  changed(Res::Weakref, before.weakrefs, after.weakrefs);
  if (after.targets.size() != before.targets.size()) writes.push_back(res(Res::Targets));  // Real::track
  for (int v = 0; v < kVars; ++v) {
    if (before.held.vars[v] != after.held.vars[v]) writes.push_back(res(Res::Var, v));
  }
  for (int k = 0; k < kWeakrefVars; ++k) {
    if (before.held.weakref_vars[k] != after.held.weakref_vars[k]) writes.push_back(res(Res::WeakrefVar, k));
  }
  if (before.held.handles != after.held.handles) writes.push_back(res(Res::Handles));
  if (before.held.weaks != after.held.weaks) writes.push_back(res(Res::Weaks));
  return f;
}

bool overlap(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
  return std::any_of(a.begin(), a.end(), [&](std::uint64_t x) { return std::find(b.begin(), b.end(), x) != b.end(); });
}

// Whether x and y, on different threads, could end differently in another order.
bool conflict(const Footprint& x, const Footprint& y) {
  if (x.thread == y.thread) return false;  // one thread keeps the order
  return overlap(x.writes, y.writes) || overlap(x.writes, y.reads) || overlap(x.reads, y.writes);
}

// One worker thread per interpreter slot.  run() hands each its job, lets them start
// together, and waits for all of them.
class Crew {
 public:
  using Jobs = std::array<std::function<void()>, kInterpreters>;

  Crew() {
    for (int t = 0; t < kInterpreters; ++t) threads_[t] = std::thread([this, t] { work(t); });
  }
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;
  ~Crew() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // False if the jobs did not all finish within `limit` (they are then stuck for good).
  bool run(Jobs jobs, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    jobs_ = std::move(jobs);
    together_.emplace(kInterpreters);
    pending_ = kInterpreters;
    ++round_;
    start_.notify_all();
    return done_.wait_for(lock, limit, [&] { return pending_ == 0; });
  }

 private:
  void work(int t) {
    std::uint64_t seen = 0;
    while (true) {
      std::function<void()> job;
      std::latch* together = nullptr;
      {
        std::unique_lock lock(mutex_);
        start_.wait(lock, [&] { return stop_ || round_ != seen; });
        if (stop_) return;
        seen = round_;
        job = std::move(jobs_[t]);
        together = &*together_;
      }
      together->arrive_and_wait();  // so that the threads' ops overlap
      if (job) job();
      const std::lock_guard lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable start_, done_;
  Jobs jobs_;
  std::optional<std::latch> together_;
  int pending_ = 0;
  std::uint64_t round_ = 0;
  bool stop_ = false;
  std::array<std::thread, kInterpreters> threads_;  // last: they start in the constructor
};

// A round's op, planned on the model, then run on its thread.
struct Planned {
  std::size_t index;  // in the scenario
  Op op;              // resolved
  Model before;       // the model before it, in sequential order
  Footprint footprint;
  Outcome want;
  Outcome got = Outcome::Skipped;
  std::string error;
};

std::optional<Failure> run_rounds(const std::vector<Op>& ops, Model& model, Real& real, ScenarioStats* stats) {
  Crew crew;
  std::size_t i = 0;
  while (i < ops.size()) {
    // Plan a round on the model.
    std::vector<Planned> round;
    while (i < ops.size()) {
      const std::optional<Op> op = model.resolve(ops[i]);
      if (!op || op->kind == OpKind::AutoGc) {
        ++i;
        continue;
      }
      Model before = model;
      const Outcome want = model.apply(*op);
      Footprint f = footprint(before, model, *op, i);
      const bool fits = round.empty() || (!f.alone && !round.front().footprint.alone &&
                                          std::none_of(round.begin(), round.end(), [&](const Planned& p) {
                                            return conflict(f, p.footprint);
                                          }));
      if (!fits) {
        model = std::move(before);  // it starts the next round
        break;
      }
      round.push_back(Planned{i, *op, std::move(before), std::move(f), want, Outcome::Skipped, {}});
      ++i;
      if (round.back().footprint.alone) break;
    }
    if (round.empty()) break;
    // Run it: each thread its ops, in order; hermetic mode switches on every thread.
    Crew::Jobs jobs;
    for (int t = 0; t < kInterpreters; ++t) {
      jobs[t] = [&round, &real, t] {
        for (Planned& p : round) {
          if (p.footprint.thread == t) {
            p.got = real.apply(p.op, p.before, &p.error);
          } else if (p.op.kind == OpKind::Hermetic) {
            std::string ignored;
            (void)real.apply(p.op, p.before, &ignored);
          }
        }
      };
    }
    if (!crew.run(std::move(jobs), std::chrono::seconds(120))) {
      std::vector<Op> so_far(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(i));
      std::fprintf(stderr,
                   "revive: a threaded round (steps %zu to %zu) made no progress in 120 s: its threads are "
                   "stuck, a deadlock (Note [GIL order across interpreters])\nreplay: %s\n",
                   round.front().index, round.back().index,
                   replay_command(so_far, Threading::PerInterpreter).c_str());
      std::abort();  // the stuck threads cannot be joined
    }
    // Compare.
    std::array<bool, kInterpreters> busy{};
    for (const Planned& p : round) {
      if (stats != nullptr) ++stats->steps;
      busy[p.footprint.thread] = true;
      if (auto e = outcome_mismatch(p.got, p.want, p.error)) return Failure{p.index, *e};
    }
    const std::size_t last = round.back().index;
    const std::string where = round.size() == 1 ? std::string()
                                                : "after a round of " + std::to_string(round.size()) +
                                                      " ops on several threads (from step " +
                                                      std::to_string(round.front().index) + "): ";
    if (auto e = real.compare(model)) return Failure{last, where + *e};
    if (auto e = real.check_invariants(model)) return Failure{last, where + *e};
    // Coverage: rounds that really ran on several threads, and releases that reached
    // into another busy thread's interpreter.
    if (std::count(busy.begin(), busy.end(), true) >= 2) {
      ++model.coverage.threaded_rounds;
      for (const Planned& p : round) {
        for (std::uint64_t w : p.footprint.writes) {
          if ((w >> 32) != static_cast<std::uint64_t>(Res::Wrapper)) continue;
          const auto idx = static_cast<std::size_t>(w & 0xffffffffu);
          if (idx >= p.before.wrappers.size()) continue;  // made by this op
          const int m = p.before.wrappers[idx].interp;
          const int slot = p.before.interps[m].alive ? p.before.slot_of[m] : -1;
          if (slot >= 0 && slot != p.footprint.thread && busy[slot]) {
            ++model.coverage.concurrent_releases;
            break;
          }
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::string with_slot_names(std::string text, const std::array<std::string, kInterpreters>& names) {
  for (int slot = 0; slot < kInterpreters; ++slot) {
    const std::string& name = names[slot];
    if (name.empty()) continue;
    for (auto at = text.find(name); at != std::string::npos; at = text.find(name, at)) {
      text.replace(at, name.size(), "I" + std::to_string(slot));
    }
  }
  return text;
}

Eras eras_for_seed(std::uint64_t seed) {
  switch (seed % 4) {
    case 0: return kE2Only;
    case 1: return {Era::E4, Era::E4};
    case 2: return {Era::E2, Era::E4};
    default: return {Era::E4, Era::E2};
  }
}

std::optional<Failure> run_scenario(const std::vector<Op>& ops, ScenarioStats* stats, Threading threading,
                                    const WitnessKind* witness_kind, Eras eras) {
  if (witness_kind != nullptr && threading != Threading::One) {
    throw std::invalid_argument("run_scenario: a witness runs on the calling thread only (Threading::One)");
  }
  Model model(eras);
  Real real(model);
  const std::unique_ptr<Witness> witness = witness_kind != nullptr ? witness_kind->make(eras) : nullptr;
  std::optional<Failure> failure = threading == Threading::One ? run_steps(ops, model, real, stats, witness.get())
                                                               : run_rounds(ops, model, real, stats);
  if (!failure) {
    const int rounds = model.finish();
    real.finish(rounds);
    if (witness != nullptr) witness->finish(rounds);
    if (auto e = real.compare(model, /*all=*/true)) {
      failure = Failure{ops.size(), "after dropping everything: " + *e};
    } else if (auto w = witness != nullptr ? witness->compare(model) : std::nullopt) {
      failure = Failure{ops.size(), "witness, after dropping everything: " + *w};
    } else if (auto leak = unexplained_leftovers(model)) {
      failure = Failure{ops.size(), *leak};
    }
  }
  // What the witness keeps alive for good is not the fake's to reclaim.
  const std::int64_t kept_by_witness = witness != nullptr ? witness->close() : 0;
  // Process-wide counts, once the interpreters are gone.  Nothing outside reaches them
  // any more, so every one of them, torn down now or earlier, must have been reclaimed,
  // and with them every tensor their abandoned objects kept (Note [Reclaiming a dead
  // interpreter]): the scenario leaves nothing behind.
  const auto base_tensors = real.base_tensors;
  const auto base_nodes = real.base_nodes;
  const auto base_dead = real.base_dead;
  real.close();
  if (!failure) {
    if (Runtime::dead_interpreter_count() != base_dead) {
      failure = Failure{ops.size(), "dead interpreters left after the scenario: " +
                                        std::to_string(Runtime::dead_interpreter_count() - base_dead) +
                                        " not reclaimed"};
    } else if (TensorImpl::live_count() - kept_by_witness != base_tensors) {
      failure = Failure{ops.size(), "tensors left after the scenario: " +
                                        std::to_string(TensorImpl::live_count() - kept_by_witness - base_tensors)};
    } else if (kept_by_witness == 0 && autograd::Node::live_count() != base_nodes) {
      // (A node is held by a tensor, so a witness that keeps no tensor keeps no node.)
      failure = Failure{ops.size(), "autograd nodes left after the scenario: " +
                                        std::to_string(autograd::Node::live_count() - base_nodes)};
    }
  }
  if (stats != nullptr) stats->coverage = model.coverage;
  return failure;
}

std::vector<Op> random_scenario(std::uint64_t seed, std::size_t length) {
  // Weights per OpKind, in enum order: wraps and drops dominate; teardown is rare.
  static constexpr int kWeights[] = {6, 6, 12, 4, 4, 8, 2, 2, 2, 10, 4, 5, 5, 3, 4, 2, 3, 2, 1, 3, 2, 4, 2, 2, 3, 3, 4, 3};
  static_assert(std::size(kWeights) == static_cast<std::size_t>(OpKind::kCount));
  std::mt19937_64 rng(seed);
  std::discrete_distribution<int> kind(std::begin(kWeights), std::end(kWeights));
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<Op> ops;
  ops.reserve(length);
  for (std::size_t i = 0; i < length; ++i) {
    ops.push_back(Op{static_cast<OpKind>(kind(rng)), static_cast<std::uint8_t>(byte(rng)),
                     static_cast<std::uint8_t>(byte(rng)), static_cast<std::uint8_t>(byte(rng))});
  }
  return ops;
}

std::vector<Op> decode(const std::uint8_t* data, std::size_t size) {
  std::vector<Op> ops;
  for (std::size_t i = 0; i + 4 <= size; i += 4) {
    ops.push_back(Op{static_cast<OpKind>(data[i] % static_cast<int>(OpKind::kCount)), data[i + 1],
                     data[i + 2], data[i + 3]});
  }
  return ops;
}

std::vector<Op> shrink(std::vector<Op> ops, int budget, Threading threading, const WitnessKind* witness,
                       Eras eras) {
  std::size_t chunk = ops.size() / 2;
  while (chunk >= 1 && budget > 0) {
    bool progress = false;
    for (std::size_t i = 0; i < ops.size() && budget > 0;) {
      std::vector<Op> candidate;
      candidate.reserve(ops.size());
      candidate.insert(candidate.end(), ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(i));
      candidate.insert(candidate.end(), ops.begin() + static_cast<std::ptrdiff_t>(std::min(i + chunk, ops.size())),
                       ops.end());
      --budget;
      if (run_scenario(candidate, nullptr, threading, witness, eras)) {
        ops = std::move(candidate);
        progress = true;
      } else {
        i += chunk;
      }
    }
    if (!progress) chunk /= 2;
  }
  // No single op can go now; two at once sometimes can (removing one shifts how the
  // later ops resolve their arguments), so try every pair, and start over on success.
  for (bool progress = true; progress && budget > 0;) {
    progress = false;
    for (std::size_t i = 0; i < ops.size() && !progress && budget > 0; ++i) {
      for (std::size_t j = i + 1; j < ops.size() && !progress && budget > 0; ++j) {
        std::vector<Op> candidate;
        candidate.reserve(ops.size());
        for (std::size_t k = 0; k < ops.size(); ++k) {
          if (k != i && k != j) candidate.push_back(ops[k]);
        }
        --budget;
        if (run_scenario(candidate, nullptr, threading, witness, eras)) {
          ops = std::move(candidate);
          progress = true;
        }
      }
    }
  }
  return ops;
}

void print_scenario(std::ostream& os, const std::vector<Op>& ops) {
  Model m;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const std::optional<Op> r = m.resolve(ops[i]);
    os << "  " << i << ": {" << static_cast<int>(ops[i].kind) << ", " << int{ops[i].a} << ", "
       << int{ops[i].b} << ", " << int{ops[i].c} << "}  ";
    if (!r) {
      os << "(skipped: nothing to act on)\n";
      continue;
    }
    os << describe(*r);
    if (m.apply(*r) == Outcome::Raised) os << "  (raises)";
    os << "\n";
  }
}

std::string ops_argument(const std::vector<Op>& ops) {
  std::string out;
  for (const Op& op : ops) {
    out += (out.empty() ? "" : " ") + std::to_string(static_cast<int>(op.kind)) + "," +
           std::to_string(int{op.a}) + "," + std::to_string(int{op.b}) + "," + std::to_string(int{op.c});
  }
  return out;
}

std::optional<std::vector<Op>> parse_ops(std::string_view text, std::string* error) {
  std::vector<Op> ops;
  std::size_t i = 0;
  auto fail = [&](std::string why) -> std::optional<std::vector<Op>> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  // One integer in [0, 255].
  auto number = [&](int& out) -> bool {
    skip_space();
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start || i - start > 3) return false;
    out = std::stoi(std::string(text.substr(start, i - start)));
    return out <= 255;
  };
  while (true) {
    skip_space();
    if (i >= text.size()) break;
    // print_scenario's line number ("12:"), then an op with or without braces.
    const std::size_t line_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    const bool numbered = i < text.size() && text[i] == ':' && i > line_start;
    if (numbered) {
      ++i;
      skip_space();
    } else {
      i = line_start;
    }
    const bool braced = i < text.size() && text[i] == '{';
    if (braced) ++i;
    int v[4];
    for (int k = 0; k < 4; ++k) {
      if (!number(v[k])) {
        return fail("op " + std::to_string(ops.size() + 1) + ": expected a number from 0 to 255 at \"" +
                    std::string(text.substr(i, 12)) + "\"");
      }
      skip_space();
      if (k < 3) {
        if (i >= text.size() || text[i] != ',') {
          return fail("op " + std::to_string(ops.size() + 1) + " is cut short: an op is four numbers K,A,B,C");
        }
        ++i;
      }
    }
    if (braced) {
      if (i >= text.size() || text[i] != '}') return fail("op " + std::to_string(ops.size() + 1) + ": missing '}'");
      ++i;
      if (numbered) {
        // print_scenario's description after the op, up to the end of the line.
        while (i < text.size() && text[i] != '\n') ++i;
      } else {
        // Anything else after an op is a mistake, never dropped: another op or the end.
        skip_space();
        if (i < text.size() && text[i] != '{' && (text[i] < '0' || text[i] > '9')) {
          return fail("op " + std::to_string(ops.size() + 1) + ": unexpected text after '}' at \"" +
                      std::string(text.substr(i, 12)) + "\" (only a numbered line of a failure report, \"12: {K, A, B, "
                      "C}  ...\", may carry a description)");
        }
      }
    }
    if (v[0] >= static_cast<int>(OpKind::kCount)) {
      return fail("op " + std::to_string(ops.size() + 1) + ": no op kind " + std::to_string(v[0]) +
                  " (there are " + std::to_string(static_cast<int>(OpKind::kCount)) + ")");
    }
    ops.push_back(Op{static_cast<OpKind>(v[0]), static_cast<std::uint8_t>(v[1]),
                     static_cast<std::uint8_t>(v[2]), static_cast<std::uint8_t>(v[3])});
  }
  if (ops.empty()) return fail("no op given");
  return ops;
}

namespace {
// " --planted NAME" while a planted bug is on, else nothing.
std::string planted_option() {
  if (planted_bug() == PlantedBug::None) return {};
  return " --planted " + std::string(interp::testing::to_string(planted_bug()));
}
}  // namespace

std::string replay_command(const std::vector<Op>& ops, Threading threading, const WitnessKind* witness,
                           Eras eras) {
  return (witness != nullptr ? witness->program : std::string("revive-campaign")) + " --ops \"" + ops_argument(ops) + "\"" +
         (threading == Threading::PerInterpreter ? " --threads" : "") +
         (eras != kE2Only ? " --eras " + to_string(eras) : std::string()) + planted_option();
}

CampaignReport campaign(std::uint64_t seed, std::size_t steps, std::ostream& log, std::size_t length,
                        const std::function<void(const CampaignReport&)>& progress, Threading threading,
                        const WitnessKind* witness) {
  CampaignReport report;
  for (std::uint64_t s = seed; report.steps < steps; ++s) {
    const std::vector<Op> ops = random_scenario(s, length);
    const Eras eras = eras_for_seed(s);
    ++report.scenarios;
    ScenarioStats stats;
    const std::optional<Failure> failure = run_scenario(ops, &stats, threading, witness, eras);
    report.steps += stats.steps;
    report.coverage += stats.coverage;
    if (failure) {
      report.failing_seed = s;
      report.failing_eras = eras;
      log << "differential mismatch: seed " << s << " (eras " << to_string(eras) << "), step " << failure->step
          << ": " << failure->message << "\n";
      report.reproducer = shrink(ops, 4000, threading, witness, eras);
      report.failure = run_scenario(report.reproducer, nullptr, threading, witness, eras);
      log << "reproducing sequence (" << report.reproducer.size() << " of " << ops.size() << " steps";
      if (report.failure) log << "; fails at step " << report.failure->step << ": " << report.failure->message;
      log << "):\n";
      print_scenario(log, report.reproducer);
      log << "replay: " << replay_command(report.reproducer, threading, witness, eras) << "\n";
      log << "the whole scenario: " << (witness != nullptr ? witness->program : std::string("revive-campaign"))
          << " --replay " << s << " --length " << length
          << (threading == Threading::PerInterpreter ? " --threads" : "") << planted_option() << "\n";
      return report;
    }
    if (progress) progress(report);
  }
  return report;
}


}  // namespace revive::proof
