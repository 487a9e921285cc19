// model.h: the reference model — docs/reference.md §2-§3 as a small state machine
// with no pointers, written to be read, against which the real implementation is run.
//
// Defines:
//   Op, OpKind    one step of a scenario: a Python or C++ action (wrap, del, copy a C++
//                 reference, setattr, weakref, hermetic on/off, teardown, gc.collect...).
//                 Arguments are small numbers resolved against what exists (see
//                 resolve()), so every byte string decodes to a valid scenario.
//   Model         the state: targets (n, tag, recorded wrapper, owns bit), wrappers (r,
//                 cdata owned/borrowed/undefined, hermetic, foo, peer, finalizer runs),
//                 Python weakrefs, interpreters, and what the scenario holds (Python
//                 variables, C++ handles and weak handles).  apply(op) performs one step.
//
// Everything is an index into a vector; nothing is freed, only marked dead.  Each
// transition is one function named after docs/reference.md (t1_wrap, t3_resurrect, ...), in
// the order the real code performs its steps, because orders are observable: a
// dealloc drops __dict__ before cdata, the collector clears in list order.
//
// Example (the differential runner does this for every step):
//   Model m;
//   m.apply({OpKind::NewTensor, 0, 0, 0});   // C++: h0 = at::empty()
//   m.apply({OpKind::Wrap, 0, 0, 0});        // I0: v0 = wrap(h0)        U -> L
//   m.apply({OpKind::DropVar, 0, 0, 0});     // del v0                   L -> Z (held by h0)
//   assert(m.targets[0].owns && m.wrappers[0].cdata == Cdata::Borrowed);
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace revive::proof {

enum class OpKind : std::uint8_t {
  NewTensor,     // C++: handles += at::empty()
  NewWrapped,    // interp a: var b = torch.empty() (c odd: of a subclass with __del__)
  Wrap,          // interp a: var b = wrap(handle c)
  Unpack,        // C++: handles += THPVariable_Unpack(var a)
  CopyHandle,    // C++: handles += handles[a]
  DropHandle,    // C++: handles[a].reset()
  TakeWeak,      // C++: weaks += weak_intrusive_ptr(handles[a])
  LockWeak,      // C++: handles += weaks[a].lock(), if the target lives
  DropWeak,      // C++: weaks[a].reset()
  DropVar,       // del var a
  CopyVar,       // var b = var a
  SetFoo,        // var a.foo = <next integer>
  SetPeer,       // var a.peer = var b (None if b is empty); never a hermetic wrapper
  MakeWeakref,   // weakref var b = weakref.ref(var a) (c odd: with a callback that counts)
  Deref,         // var b = weakref var a()
  DropWeakref,   // del weakref var a
  FixWeakref,    // var a._fix_weakref()
  Hermetic,      // hermetic mode on (a odd) or off
  Teardown,      // tear interpreter a down; a fresh one takes its place
  Collect,       // interp a: gc.collect()
  AutoGc,        // interp a: gc.set_threshold(b, 2, 2); gc.enable() (b == 0: never)
  StorageOf,     // var b = var a.untyped_storage() (a storage of another interpreter's
                 // tag: a new StorageImpl sharing its bytes)
  TensorOf,      // var b = torch.tensor(var a), a storage: a new tensor viewing it
  NewStorage,    // interp a: var b = torch.UntypedStorage(16)
  ShareStorage,  // C++: handles += a new tensor viewing handles[a]'s storage
  SetGrad,       // C++: handles[a].grad = handles[b] (c odd: = None); never a cycle
  Pow,           // var b = var a ** 2, a made a leaf that requires grad first if it is not
                 // one already: the output's grad_fn saves a (tensor/autograd.h)
  SetHooks,      // var a._backward_hooks = var b (None if b is empty): the wrapper's field,
                 // and the tensor's Python pre-hook in C++
  kCount
};

struct Op {
  OpKind kind;
  std::uint8_t a = 0, b = 0, c = 0;
};

// "I0: v1 = wrap(h2)", for an op resolve() returned.
[[nodiscard]] std::string describe(const Op& op);

inline constexpr int kInterpreters = 2;

// The era of an interpreter (binding::Era's twin, so that the model stands alone):
// E2 resurrects; E4 sets the target's has-PyObject bit and holds a reference to the
// wrapper while C++ shares the target (Note [Era E4 in the binding]).
enum class Era : std::uint8_t { E2, E4 };
// The era of each interpreter slot, for a whole scenario (a slot's fresh interpreter
// after a teardown keeps its slot's era).
using Eras = std::array<Era, kInterpreters>;
inline constexpr Eras kE2Only{Era::E2, Era::E2};
// "E2,E4": what revive-campaign's --eras takes; and back (nothing on anything else).
[[nodiscard]] std::string to_string(const Eras& eras);
[[nodiscard]] std::optional<Eras> eras_named(std::string_view text);
inline constexpr int kVars = 6;         // Python variables
inline constexpr int kWeakrefVars = 3;  // variables holding Python weakref objects

enum class Cdata : std::uint8_t { Owned, Borrowed, Undefined };

struct Target {
  bool alive = true;
  bool is_storage = false;  // a StorageImpl (else a TensorImpl)
  int storage = -1;         // a tensor's storage (a target index): the tensor holds it
  int grad = -1;            // a tensor's grad (a target index): the tensor holds it
  bool requires_grad = false;  // a leaf's flag
  int grad_fn = -1;         // the node that made it (a node index): the tensor holds it
  int accumulator = -1;     // a leaf's AccumulateGrad (a node index), held weakly
  int cpp_hooks = -1;       // its Python pre-hook's object (a wrapper): the tensor holds it
  int n = 0;                // strong count
  int tag = -1;             // interpreter index that tagged it (into Model::interps)
  bool has_pyobject = false;  // E4's bit: set by an E4 wrapper, never cleared
  int recorded = -1;        // wrapper the slot records (only meaningful when tag >= 0)
  bool owns = false;        // the slot owns `recorded`
  bool operator==(const Target&) const = default;
};

struct Wrapper {
  int target;
  int interp;               // index into Model::interps
  bool alive = true;
  int r = 1;                // Python refcount
  Cdata cdata = Cdata::Owned;
  bool hermetic = false;
  bool has_finalizer = false;
  int finalizer_runs = 0;
  bool finalized = false;
  std::optional<std::int64_t> foo;  // x.foo
  int peer = -1;            // x.peer: a wrapper this one owns a reference to
  int hooks = -1;           // x._backward_hooks: a wrapper this one owns a reference to
  bool revived_by_weakref = false;  // T8: r was raised through a weakref with no flip
  bool operator==(const Wrapper&) const = default;
};

// An autograd node (tensor/autograd.h): PowBackward0 saving its input, or a leaf's
// AccumulateGrad owning its leaf; no Python object (the runner's interpreters cache
// grad_fn objects, and no op asks for one).
struct GraphNode {
  bool alive = true;
  int n = 0;              // strong count
  int saved = -1;         // PowBackward0's _saved_self (a target)
  int variable = -1;      // AccumulateGrad's leaf (a target)
  int next = -1;          // PowBackward0's edge: its input's grad_fn or accumulator (a node)
  bool operator==(const GraphNode&) const = default;
};

struct Weakref {
  int interp;
  int referent = -1;        // -1: reads None
  bool alive = true;
  bool has_callback = false;
  int callback_runs = 0;    // at most 1: a weakref is cleared once
  bool operator==(const Weakref&) const = default;
};

struct Interp {
  Era era = Era::E2;
  bool alive = true;
  bool reclaimed = false;   // dead, and freed once nothing reached it any more
  int generation = 0;       // how many interpreters this slot had before
  int warnings = 0;
  int live_objects = 0;     // its wrappers and weakref objects alive (Model::live_objects)
  // The collector as the real one keeps it: three generation lists (wrapper indices),
  // their counts and thresholds, the switch (off until an AutoGc op), and the two
  // lists a collection works through.
  static constexpr int kGenerations = 3;
  std::vector<int> gens[kGenerations], unreachable, garbage;
  int count[kGenerations] = {};
  int threshold[kGenerations] = {700, 10, 10};
  bool gc_enabled = false;
};

// What the scenario holds; an index of -1 is None / empty.
struct Holdings {
  int vars[kVars] = {-1, -1, -1, -1, -1, -1};          // wrapper index
  int weakref_vars[kWeakrefVars] = {-1, -1, -1};       // weakref index
  std::vector<int> handles;  // target index per C++ strong reference
  std::vector<int> weaks;    // target index per C++ weak reference
};

// What one applied step did: skipped (nothing to act on), raised (Python or C++ error,
// nothing changed), or ran.
enum class Outcome : std::uint8_t { Skipped, Raised, Ran };

// How often a run went through the transitions that matter: a campaign that never
// resurrects proves nothing, so the tests assert on these.
struct Coverage {
  long resurrections = 0;    // T3
  long flips = 0;            // T5
  long real_deaths = 0;      // T4 / T6
  long hole_warnings = 0;    // T8
  long refusals = 0;         // ops that raised (T11 and misuse)
  long teardowns = 0;        // T9
  long gc_clears = 0;        // clears that dropped something (T7)
  long hermetic_wrappers = 0;  // T10
  long weakref_callbacks = 0;  // callbacks run when a referent died or was collected
  long auto_collections = 0;   // collections a threshold started inside another op
  long reclaims = 0;           // dead interpreters freed (their abandoned objects too)
  long storage_wrappers = 0;   // UntypedStorage wrappers made (hermetic ones too)
  long storage_resurrections = 0;  // T3 of a storage wrapper
  long storage_aliases = 0;    // storage wraps across interpreters (a new StorageImpl)
  long hermetic_storage_wrappers = 0;
  long grads_released = 0;     // tensors that died and let their grad go
  long e4_wrappers = 0;        // wrappers made by an E4 interpreter
  long e4_cpp_increfs = 0;     // E4: n 1 -> 2 with the bit set, C++ took the wrapper
  long e4_cpp_decrefs = 0;     // E4: n 2 -> 1, C++ gave it back
  long graph_nodes = 0;        // autograd nodes made (grad_fns and accumulators)
  long saved_releases = 0;     // nodes that died and let a saved tensor or leaf go
  long hooks_seen_through = 0; // traverses that reported a tensor's C++ pre-hook object
  // Counted by the runner's threaded mode (Note [Threaded scenarios]), not by the model:
  long threaded_rounds = 0;    // rounds in which two or more threads ran ops at once
  long concurrent_releases = 0;  // ops in such a round that changed a wrapper of another
                                 // thread's interpreter (a release reaching across)
  Coverage& operator+=(const Coverage& o);
};
// "12 resurrections, 3 flips back, ...": every count, named.
[[nodiscard]] std::string to_string(const Coverage& c);

class Model {
 public:
  explicit Model(Eras eras = kE2Only);

  // The op with its arguments resolved against the current state, or nullopt when it
  // has nothing to act on (it is then skipped, here and in the real run).
  [[nodiscard]] std::optional<Op> resolve(const Op& op) const;
  // Perform a resolved op.
  Outcome apply(const Op& resolved);

  // Drop everything the scenario holds, collect in every interpreter (again, until a
  // round frees nothing), so that only what teardown abandoned is left.  Returns how
  // many rounds of collections it made.
  int finish();

  std::vector<Target> targets;
  std::vector<Wrapper> wrappers;
  std::vector<Weakref> weakrefs;
  std::vector<GraphNode> nodes;
  std::vector<Interp> interps;  // interps[slot_interp[i]] is slot i's current one
  std::vector<int> slot_of;     // the slot each interpreter was made for
  int slot_interp[kInterpreters] = {};
  Eras eras = kE2Only;          // each slot's era
  Holdings held;
  bool hermetic = false;
  std::int64_t next_foo = 1;
  Coverage coverage;

  [[nodiscard]] bool resurrectable(int w) const;
  // Wrappers and weakref objects alive: kept as they are made and die (compared after
  // every step, so it must not cost a walk over everything ever made), and counted
  // afresh by count_live_objects (compared at the end of a scenario).
  [[nodiscard]] int live_objects(int interp) const { return interps[interp].live_objects; }
  [[nodiscard]] int count_live_objects(int interp) const;
  // Weakref callbacks and finalizers run so far, in all.
  int callback_total = 0;
  int finalizer_total = 0;
  [[nodiscard]] bool abandoned(int w) const { return !interps[wrappers[w].interp].alive; }

 private:
  // Python-level primitives, in the real code's order.
  int wrap(int target, int interp);  // returns the wrapper (new reference); may throw
  int new_tensor(int storage = -1);  // a C++ tensor (over a fresh storage unless given), n = 1
  int new_wrapper(int target, int interp, bool has_finalizer);
  void incref(int w);
  void decref(int w);
  void dealloc(int w);
  void t3_resurrect(int w);
  void real_death(int w);
  void release_cdata(int w);
  void t6_decref_from_cpp(int w);
  void drop_weakref(int k);
  void clear_weakrefs_to(int w);  // the referent w dies: None, then the callbacks
  // C++-level primitives.
  void strong_inc(int t);
  void strong_dec(int t);
  // The collector.
  void collect(int interp, int generation = Interp::kGenerations - 1);
  void safe_point(int interp);  // an automatic collection, if one is due
  void split(std::vector<int>& list, std::vector<int>& out);
  void untrack(int w);
  void gc_clear(int w);
  // What traverse reports, in the real code's order: the peer (__dict__), the hooks
  // field, and the tensor's C++ pre-hook object when the wrapper may see through C++
  // (Note [Seeing through C++ in traverse]).  -1 for none.
  [[nodiscard]] std::array<int, 3> traverse(int w) const;
  void node_inc(int k);
  void node_dec(int k);
  int pow(int t, int interp);  // var = x ** 2 on target t; returns the output's wrapper
  void set_var(int v, int w);  // assign a new reference, then drop the old one
  void new_interp(int slot);
  // Note [Reclaiming a dead interpreter], in the model's terms: the dead interpreters
  // (those marked in `group`) are judged together.
  void reclaim_dead();
  [[nodiscard]] std::vector<char> reclaimable(const std::vector<char>& group) const;
  [[nodiscard]] bool is_storage_wrapper(int w) const { return targets[wrappers[w].target].is_storage; }
};

// Thrown by Model for an operation the real code must refuse (nothing changed).
struct ModelError {
  std::string what;
};

}  // namespace revive::proof
