// The real CPython as a witness of the differential runner: see cpython_witness.h.
//
// Note [The fake against the real CPython]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The fake interpreter (interp/) is CPython as this project read it; cpython/ is the same
// binding on the real CPython 3.11.  Both eras: each subinterpreter imports the module
// in its slot's era (REVIVE_ERA), as the fake's interpreters are created in theirs.  To show that the reading is right, every random
// scenario of the differential runner also runs here, on two real subinterpreters (the
// two interpreter slots of the model), op for op, and after every step the real state
// is compared with the model exactly as the fake's is (differential.cpp, Real::compare):
//   per tensor and storage  alive or dead, the strong count n, the tag (which
//                           interpreter, or none), the recorded wrapper (its identity),
//                           the owns bit, that wrapper's refcount r and its cdata
//                           (owned, borrowed, undefined);
//   per variable            which wrapper (identity by the wrapper's serial, never by
//                           address, so a resurrection must give back the very
//                           object), its r, its `foo` attribute (it survives a
//                           resurrection);
//   per weakref             what it reads (None or which wrapper), its callback's runs,
//                           the total of all callbacks, and that no callback saw its
//                           referent (CPython clears the weakref first);
//   per interpreter         the warnings raised (the weakref hole's), and the wrappers
//                           not yet freed (zombies, stubbed and hermetic ones too);
//   per wrapper with __del__  how often it ran (at most once: PEP 442), dead wrappers
//                           included, and the total of all runs;
// and when an op raises in both runtimes, the two texts are compared (interpreter names
// written as I0 and I1; a C++ error that the real module turns into RuntimeError is
// compared by its message).  The model being the same reference for both, a scenario
// that passes is one where the fake and the real CPython agreed at every step.
//
// Ops run as a program using torch would run them: Python-level ops (wrap, del, setattr,
// weakref.ref, gc.collect, x.untyped_storage(), ...) with the wrapper's interpreter's
// thread state, through the module's own entry points or the C API; C++-level ops (a
// handle copied, dropped, a grad set) with no thread state at all, so that a release that
// reaches a zombie enters its interpreter through the vtable, as C++ code of PyTorch did.
// Each interpreter's collector is off (the model's is, until an AutoGc op), finalizers
// and weakref callbacks count their runs, and the warnings module counts its warnings.
//
// What cannot be compared, on purpose:
//   - Teardown.  The fake tears an interpreter down as torchdeploy did: its objects are
//     abandoned where they are, and reclaimed when nothing reaches them.  A real
//     subinterpreter's Py_EndInterpreter finalizes its modules and runs its collector,
//     and one whose objects are still referenced from outside cannot be ended safely.
//     Disarming at the end is tested in test/python/test_interpreters.py instead.
//   - Automatic collections (AutoGc).  The model counts the scenario's allocations only;
//     a real generation-0 count moves with every container CPython allocates (frames,
//     dicts, the call's tuples), so when a threshold fires cannot agree.  Explicit
//     collections (Collect) are compared, and they are where the collector's order shows.
//   - Live objects other than wrappers: a real interpreter holds thousands of its own,
//     and shares one weakref object among all plain weakref.ref(x) of an object.
//   - Storing an object of one interpreter in another's (SetPeer across interpreters),
//     which the fake refuses: torchdeploy's interpreters were separate copies of
//     libpython, where it cannot even be written, but 3.11's subinterpreters share one
//     object space and would let it happen (and then collect neither side).
#include "revive/proof/cpython_witness.h"

#include "revive/cpython/module.h"
#include "revive/cpython/python_variable.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "revive/pyslot/hermetic_tls.h"
#include "revive/tensor/death_watch.h"

namespace revive::proof {

namespace {

// CPython's object.  revive::PyObject is the slot's opaque one, which unqualified names
// in namespace revive would find, CPython's macros (Py_RETURN_NONE, ...) included.
using PyObject = ::PyObject;
using PyObj = ::PyObject;
using cpython::Torch;
using cpython::WrapperObject;

PyThreadState* main_thread_state = nullptr;  // the embedding thread's, from start_cpython

// What the Python-level hooks count, for the witness that runs now (one at a time, on
// the thread that runs the scenario).
struct Counts {
  std::map<std::uint64_t, int> finalizer_runs;  // by wrapper serial
  int finalizers = 0;                           // all finalizer runs
  std::map<const PyObj*, int> callback_runs;    // by weakref object, reset when one is made
  int callbacks = 0;                           // all callback runs
  int early_callbacks = 0;                     // callbacks that still saw their referent
  std::map<const PyInterpreterState*, int> warnings;
};
Counts* counts = nullptr;

PyObj* count_finalizer(PyObj*, PyObj* self) {
  if (counts != nullptr) {
    // Only Fin's instances (revive.Tensor wrappers) run it.
    ++counts->finalizer_runs[reinterpret_cast<const WrapperObject<Tensor>*>(self)->serial];
    ++counts->finalizers;
  }
  Py_RETURN_NONE;
}
PyObj* count_callback(PyObj*, PyObj* weakref) {
  if (counts != nullptr) {
    if (PyWeakref_GetObject(weakref) != Py_None) ++counts->early_callbacks;
    ++counts->callback_runs[weakref];
    ++counts->callbacks;
  }
  Py_RETURN_NONE;
}
PyObj* count_warning(PyObj*, PyObj*) {
  if (counts != nullptr) ++counts->warnings[PyInterpreterState_Get()];
  Py_RETURN_NONE;
}
PyMethodDef count_finalizer_def = {"_count_finalizer", &count_finalizer, METH_O, nullptr};
PyMethodDef count_callback_def = {"_count_callback", &count_callback, METH_O, nullptr};
PyMethodDef count_warning_def = {"_count_warning", &count_warning, METH_NOARGS, nullptr};

// Run in each subinterpreter's __main__ when it starts, after the three counters above
// were put there.
constexpr const char* kSetup = R"(
import gc, warnings, revive
gc.disable()
warnings.simplefilter("always")
warnings.showwarning = lambda *args, **kwargs: _count_warning()
class Fin(revive.Tensor):
    def __del__(self):
        _count_finalizer(self)
)";

// The pending Python exception as "TypeError: text" (a RuntimeError, which is what the
// module makes of a C++ error, by its text alone), cleared.
std::string take_exception() {
  PyObj *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  std::string text = "unknown error";
  if (value != nullptr) {
    if (PyObj* s = PyObject_Str(value); s != nullptr) {
      if (const char* utf8 = PyUnicode_AsUTF8(s); utf8 != nullptr) text = utf8;
      Py_DECREF(s);
    }
  }
  PyErr_Clear();
  const std::string kind = type != nullptr ? reinterpret_cast<PyTypeObject*>(type)->tp_name : "?";
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(traceback);
  return kind == "RuntimeError" ? text : kind + ": " + text;
}

struct PythonFailed {  // a C API call failed; the exception is pending
};
PyObj* check(PyObj* o) {
  if (o == nullptr) throw PythonFailed{};
  return o;
}

// One real subinterpreter in a model slot.
struct Sub {
  PyThreadState* ts = nullptr;
  Torch* torch = nullptr;
  PyObj* module = nullptr;     // revive
  PyObj* fin_type = nullptr;   // Fin(revive.Tensor), with __del__
  PyObj* callback = nullptr;   // the counting weakref callback
  PyObj* collect = nullptr;    // gc.collect (PyGC_Collect does nothing while gc is disabled)
  std::string name;            // as the tag names it
};

// An object the scenario holds, with the interpreter it belongs to.
struct Held {
  PyObj* o = nullptr;
  int sub = -1;
};

// Makes sub `s`'s thread state current for a scope, from whatever this thread had (none,
// with the GIL released, or another interpreter's, with the GIL held), and restores it.
class Enter {
 public:
  explicit Enter(PyThreadState* ts) {
    // 3.11 answers with the thread state of whichever thread holds the GIL.
    PyThreadState* current = _PyThreadState_UncheckedGet();
    if (current != nullptr && current->thread_id != PyThread_get_thread_ident()) current = nullptr;
    if (current == ts) return;
    if (current != nullptr) {
      previous_ = PyThreadState_Swap(ts);
    } else {
      PyEval_RestoreThread(ts);
      acquired_ = true;
    }
  }
  ~Enter() {
    if (acquired_) (void)PyEval_SaveThread();
    else if (previous_ != nullptr) (void)PyThreadState_Swap(previous_);
  }
  Enter(const Enter&) = delete;
  Enter& operator=(const Enter&) = delete;

 private:
  PyThreadState* previous_ = nullptr;
  bool acquired_ = false;
};

class CPythonWitness final : public Witness {
 public:
  explicit CPythonWitness(Eras eras) {
    for (int s = 0; s < kInterpreters; ++s) start(s, eras[s]);
    counts = &counts_;
  }
  ~CPythonWitness() override {
    if (!closed_) (void)close();
    counts = nullptr;
  }

  // See Note [The fake against the real CPython].
  [[nodiscard]] bool performs(const Op& op, const Model& before) const override {
    if (op.kind == OpKind::Teardown || op.kind == OpKind::AutoGc) return false;
    if (op.kind == OpKind::SetPeer || op.kind == OpKind::SetHooks) {  // never another interpreter's object
      const int w = before.held.vars[op.a], value = before.held.vars[op.b];
      return value < 0 || before.wrappers[value].interp == before.wrappers[w].interp;
    }
    return true;
  }

  Outcome apply(const Op& op, const Model& before, std::string* error) override {
    try {
      perform(op, before);
      return Outcome::Ran;
    } catch (const PythonFailed&) {
      Enter entered(subs_[failed_in_].ts);
      const std::string text = normalize(take_exception());  // cleared, whoever asks
      if (error != nullptr) *error = text;
    } catch (const Error& e) {
      if (error != nullptr) *error = normalize(e.what());
    }
    return Outcome::Raised;
  }

  std::optional<std::string> compare(const Model& m) override;

  void finish(int rounds) override {
    impl::HermeticPyObjectTLS::set_state(false);
    for (Held& v : vars_) drop(std::exchange(v, Held{}));
    for (Held& r : weakref_vars_) drop(std::exchange(r, Held{}));
    while (!handles_.empty()) handles_.pop_back();
    weaks_.clear();
    for (int round = 0; round < rounds; ++round) {
      for (int s = 0; s < kInterpreters; ++s) collect(s);
    }
  }

  std::int64_t close() override {
    closed_ = true;
    impl::HermeticPyObjectTLS::set_state(false);
    for (Held& v : vars_) drop(std::exchange(v, Held{}));
    for (Held& r : weakref_vars_) drop(std::exchange(r, Held{}));
    handles_.clear();
    weaks_.clear();
    for (int s = 0; s < kInterpreters; ++s) end(s);
    std::int64_t kept = 0;
    for (const Tracked& k : tracked_) {
      if (!k.watch && !k.tensor.expired()) ++kept;
    }
    tracked_.clear();
    return kept;
  }

 private:
  void start(int s, Era era) {
    Sub& sub = subs_[s];
    // The module reads its era when an interpreter imports it (revive.era()).
    ::setenv("REVIVE_ERA", era == Era::E4 ? "E4" : "E2", /*overwrite=*/1);
    PyEval_RestoreThread(main_thread_state);
    sub.ts = Py_NewInterpreter();
    if (sub.ts == nullptr) {
      (void)PyEval_SaveThread();
      throw std::runtime_error("revive-against-cpython: Py_NewInterpreter failed");
    }
    if (!set_up(sub)) {
      PyErr_Print();
      Py_EndInterpreter(sub.ts);
      sub.ts = nullptr;
      (void)PyThreadState_Swap(main_thread_state);
      (void)PyEval_SaveThread();
      throw std::runtime_error("revive-against-cpython: a subinterpreter's set-up failed (printed above)");
    }
    (void)PyThreadState_Swap(main_thread_state);
    (void)PyEval_SaveThread();
  }

  // In the new subinterpreter (its thread state current): the counters, kSetup, and what
  // the witness keeps of it.  False with a Python exception set on failure.
  static bool set_up(Sub& sub) {
    PyObj* globals = PyModule_GetDict(PyImport_AddModule("__main__"));  // borrowed
    if (globals == nullptr) return false;
    for (PyMethodDef* def : {&count_finalizer_def, &count_callback_def, &count_warning_def}) {
      PyObj* f = PyCFunction_New(def, nullptr);
      if (f == nullptr || PyDict_SetItemString(globals, def->ml_name, f) < 0) {
        Py_XDECREF(f);
        return false;
      }
      Py_DECREF(f);
    }
    // The package's Python files (its _C is built in): the build tree's folder, which an
    // isolated configuration leaves off sys.path.
    PyObj* sys_path = PySys_GetObject("path");  // borrowed
    PyObj* folder = PyUnicode_FromString(REVIVE_PYTHON_PACKAGE_PARENT);
    const bool found = sys_path != nullptr && folder != nullptr && PyList_Insert(sys_path, 0, folder) == 0;
    Py_XDECREF(folder);
    if (!found) {
      if (PyErr_Occurred() == nullptr) PyErr_SetString(PyExc_RuntimeError, "the subinterpreter has no sys.path");
      return false;
    }
    PyObj* done = PyRun_String(kSetup, Py_file_input, globals, globals);
    if (done == nullptr) return false;
    Py_DECREF(done);
    sub.module = PyImport_ImportModule("revive");
    PyObj* gc = PyImport_ImportModule("gc");
    sub.collect = gc == nullptr ? nullptr : PyObject_GetAttrString(gc, "collect");
    Py_XDECREF(gc);
    sub.fin_type = Py_XNewRef(PyDict_GetItemString(globals, "Fin"));
    sub.callback = Py_XNewRef(PyDict_GetItemString(globals, "_count_callback"));
    PyObj* tensor_type = sub.module == nullptr ? nullptr : PyObject_GetAttrString(sub.module, "Tensor");
    if (sub.collect == nullptr || sub.fin_type == nullptr || sub.callback == nullptr || tensor_type == nullptr) {
      Py_XDECREF(tensor_type);
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "the set-up left something undefined");
      return false;
    }
    sub.torch = &Torch::of(reinterpret_cast<PyTypeObject*>(tensor_type));
    Py_DECREF(tensor_type);
    sub.name = (*sub.torch->pyinterpreter())->name();
    return true;
  }

  void end(int s) {
    Sub& sub = subs_[s];
    {
      Enter entered(sub.ts);
      Py_CLEAR(sub.module);
      Py_CLEAR(sub.fin_type);
      Py_CLEAR(sub.callback);
      Py_CLEAR(sub.collect);
    }
    PyEval_RestoreThread(main_thread_state);
    (void)PyThreadState_Swap(sub.ts);
    Py_EndInterpreter(sub.ts);  // disarms the tag once its modules are finalized (Note [One Torch per interpreter])
    (void)PyThreadState_Swap(main_thread_state);
    (void)PyEval_SaveThread();
    sub.ts = nullptr;
  }

  // The op, run as the note says.  Throws PythonFailed (with failed_in_ set) or Error.
  void perform(const Op& op, const Model& before);

  // Calls `f` with sub s entered; a C API failure inside is reported from there.
  template <class F>
  auto in(int s, F&& f) {
    Enter entered(subs_[s].ts);
    failed_in_ = s;
    return f();
  }

  int home(PyObj* o) const {
    for (int s = 0; s < kInterpreters; ++s) {
      if (subs_[s].torch->is_wrapper<Tensor>(o) || subs_[s].torch->is_wrapper<Storage>(o)) return s;
    }
    throw std::logic_error("revive-against-cpython: an object of no known interpreter");
  }

  void collect(int s) {
    in(s, [&] { Py_DECREF(check(PyObject_CallNoArgs(subs_[s].collect))); });
  }

  void drop(Held h) {
    if (h.o == nullptr) return;
    Enter entered(subs_[h.sub].ts);
    Py_DECREF(h.o);
  }
  // Assign a new reference, then drop the old one (as `v = x` does).
  void set_var(int v, Held h) { drop(std::exchange(vars_[v], h)); }

  template <class H>
  H unpack(const Held& h) {
    return in(h.sub, [&] { return subs_[h.sub].torch->unpack<H>(h.o); });
  }

  void track(const Tensor& t) {
    Tracked& k = tracked_.emplace_back();
    k.tensor = weak_intrusive_ptr<TensorImpl>(t.getIntrusivePtr());
    k.impl = t.unsafeGetTensorImpl();
  }
  void track(const Storage& s) {
    Tracked& k = tracked_.emplace_back();
    k.watch = std::make_unique<DeathWatch>(s.unsafeGetStorageImpl());
    k.impl = s.unsafeGetStorageImpl();
  }

  // Interpreter names written as the slots they fill (with_slot_names).
  std::string normalize(std::string text) const {
    std::array<std::string, kInterpreters> names;
    for (int s = 0; s < kInterpreters; ++s) names[s] = subs_[s].name;
    return with_slot_names(std::move(text), names);
  }

  std::optional<std::string> same(int model_w, const PyObj* real, const char* where);
  std::uint64_t serial_of(const PyObj* o) const {
    for (const Sub& sub : subs_) {
      if (sub.torch->is_wrapper<Storage>(const_cast<PyObj*>(o))) {
        return reinterpret_cast<const WrapperObject<Storage>*>(o)->serial;
      }
    }
    return reinterpret_cast<const WrapperObject<Tensor>*>(o)->serial;
  }

  Counts counts_;
  std::array<Sub, kInterpreters> subs_;
  Held vars_[kVars];
  Held weakref_vars_[kWeakrefVars];
  std::vector<Tensor> handles_;
  std::vector<weak_intrusive_ptr<TensorImpl>> weaks_;
  struct Tracked {
    weak_intrusive_ptr<TensorImpl> tensor;
    std::unique_ptr<DeathWatch> watch;
    std::variant<const TensorImpl*, const StorageImpl*> impl;
    [[nodiscard]] bool alive() const { return watch ? watch->alive() : !tensor.expired(); }
  };
  std::vector<Tracked> tracked_;
  // Which real wrapper (by serial) each model wrapper is, bound at first sight.
  std::map<std::uint64_t, int> real_to_model_;
  std::map<int, std::uint64_t> model_to_real_;
  int failed_in_ = 0;
  bool closed_ = false;
};

void CPythonWitness::perform(const Op& op, const Model& before) {
  switch (op.kind) {
    case OpKind::NewTensor:
      handles_.push_back(Tensor::empty(1));
      track(handles_.back().storage());
      track(handles_.back());
      return;
    case OpKind::NewWrapped: {
      Held w{nullptr, op.a};
      in(op.a, [&] {
        w.o = op.c != 0 ? check(PyObject_CallNoArgs(subs_[op.a].fin_type))
                        : check(PyObject_CallMethod(subs_[op.a].module, "empty", "i", 1));
      });
      const Tensor t = unpack<Tensor>(w);
      track(t.storage());
      track(t);
      set_var(op.b, w);
      return;
    }
    case OpKind::Wrap: {
      const Tensor& t = handles_[op.c];
      set_var(op.b, Held{in(op.a, [&] { return check(subs_[op.a].torch->wrap(t)); }), op.a});
      return;
    }
    case OpKind::Unpack: {
      const Held& v = vars_[op.a];
      Tensor t = in(v.sub, [&] {
        if (!subs_[v.sub].torch->is_wrapper<Tensor>(v.o)) {
          PyErr_Format(PyExc_TypeError, "unpack(): expected Tensor but got %s", Py_TYPE(v.o)->tp_name);
          throw PythonFailed{};
        }
        return subs_[v.sub].torch->unpack<Tensor>(v.o);
      });
      if (t.defined()) handles_.push_back(std::move(t));
      return;
    }
    case OpKind::CopyHandle:
      handles_.push_back(handles_[op.a]);
      return;
    case OpKind::SetGrad:
      handles_[op.a].set_grad(op.c != 0 ? Tensor() : handles_[op.b]);
      return;
    case OpKind::ShareStorage:
      handles_.push_back(Tensor::from_storage(handles_[op.a].storage(), 1));
      track(handles_.back());
      return;
    case OpKind::DropHandle:
      handles_.erase(handles_.begin() + op.a);
      return;
    case OpKind::TakeWeak:
      weaks_.emplace_back(handles_[op.a].getIntrusivePtr());
      return;
    case OpKind::LockWeak:
      if (auto strong = weaks_[op.a].lock()) handles_.emplace_back(std::move(strong));
      return;
    case OpKind::DropWeak:
      weaks_.erase(weaks_.begin() + op.a);
      return;
    case OpKind::DropVar:
      drop(std::exchange(vars_[op.a], Held{}));
      return;
    case OpKind::CopyVar: {
      const Held v = vars_[op.a];
      in(v.sub, [&] { Py_INCREF(v.o); });
      set_var(op.b, v);
      return;
    }
    case OpKind::SetFoo: {
      const Held& v = vars_[op.a];
      in(v.sub, [&] {
        PyObj* value = check(PyLong_FromLongLong(before.next_foo));
        const int failed = PyObject_SetAttrString(v.o, "foo", value);
        Py_DECREF(value);
        if (failed != 0) throw PythonFailed{};
      });
      return;
    }
    case OpKind::SetPeer: {
      const Held& v = vars_[op.a];
      const Held& value = vars_[op.b];
      in(v.sub, [&] {
        if (PyObject_SetAttrString(v.o, "peer", value.o != nullptr ? value.o : Py_None) != 0) throw PythonFailed{};
      });
      return;
    }
    case OpKind::MakeWeakref: {
      const Held& v = vars_[op.a];
      PyObj* weakref = in(v.sub, [&] {
        return check(PyWeakref_NewRef(v.o, op.c != 0 ? subs_[v.sub].callback : nullptr));
      });
      counts_.callback_runs[weakref] = 0;
      drop(std::exchange(weakref_vars_[op.b], Held{weakref, v.sub}));
      return;
    }
    case OpKind::Deref: {
      const Held& r = weakref_vars_[op.a];
      Held got{nullptr, r.sub};
      in(r.sub, [&] {
        PyObj* referent = PyWeakref_GetObject(r.o);  // borrowed
        if (referent != Py_None) {
          Py_INCREF(referent);  // a plain incref: the weakref hole, when it is a zombie
          got.o = referent;
        }
      });
      set_var(op.b, got);
      return;
    }
    case OpKind::DropWeakref:
      drop(std::exchange(weakref_vars_[op.a], Held{}));
      return;
    case OpKind::FixWeakref: {
      const Held& v = vars_[op.a];
      in(v.sub, [&] { Py_DECREF(check(PyObject_CallMethod(v.o, "_fix_weakref", nullptr))); });
      return;
    }
    case OpKind::Hermetic:
      impl::HermeticPyObjectTLS::set_state(op.a != 0);
      return;
    case OpKind::Collect:
      collect(op.a);
      return;
    case OpKind::StorageOf: {
      const Held& v = vars_[op.a];
      // Through the class, as the fake's binding::untyped_storage does: a storage is
      // refused with a TypeError (its own attribute lookup would say AttributeError).
      const Held s{in(v.sub,
                      [&] {
                        PyObj* tensor_type = reinterpret_cast<PyObj*>(subs_[v.sub].torch->python_type<Tensor>());
                        return check(PyObject_CallMethod(tensor_type, "untyped_storage", "O", v.o));
                      }),
                   v.sub};
      // A storage another interpreter tagged comes back as a new StorageImpl.
      const Storage got = unpack<Storage>(s);
      if (got.unsafeGetStorageImpl() != unpack<Tensor>(v).storage().unsafeGetStorageImpl()) track(got);
      set_var(op.b, s);
      return;
    }
    case OpKind::TensorOf: {
      const Held& v = vars_[op.a];
      const Held t{in(v.sub, [&] { return check(PyObject_CallMethod(subs_[v.sub].module, "tensor", "O", v.o)); }),
                   v.sub};
      track(unpack<Tensor>(t));
      set_var(op.b, t);
      return;
    }
    case OpKind::NewStorage: {
      const Held s{in(op.a, [&] {
                     PyObj* type = check(PyObject_GetAttrString(subs_[op.a].module, "UntypedStorage"));
                     PyObj* made = PyObject_CallFunction(type, "i", 16);
                     Py_DECREF(type);
                     return check(made);
                   }),
                   op.a};
      track(unpack<Storage>(s));
      set_var(op.b, s);
      return;
    }
    case OpKind::Pow: {
      // x.requires_grad = True (a leaf that does not yet), then y = x ** 2, as the fake's
      // runner does; a storage is refused with the fake's kind of error (TypeError).
      const Held& v = vars_[op.a];
      const Held y{in(v.sub,
                      [&] {
                        if (!subs_[v.sub].torch->is_wrapper<Tensor>(v.o)) {
                          PyErr_Format(PyExc_TypeError, "is_leaf(): expected Tensor but got %s", Py_TYPE(v.o)->tp_name);
                          throw PythonFailed{};
                        }
                        PyObj* leaf = check(PyObject_GetAttrString(v.o, "is_leaf"));
                        PyObj* wants = PyObject_GetAttrString(v.o, "requires_grad");
                        const bool set = leaf == Py_True && wants == Py_False;
                        Py_DECREF(leaf);
                        if (wants == nullptr) throw PythonFailed{};
                        Py_DECREF(wants);
                        if (set && PyObject_SetAttrString(v.o, "requires_grad", Py_True) != 0) throw PythonFailed{};
                        PyObj* two = check(PyLong_FromLong(2));
                        PyObj* out = PyNumber_Power(v.o, two, Py_None);
                        Py_DECREF(two);
                        return check(out);
                      }),
                   v.sub};
      const Tensor t = unpack<Tensor>(y);
      track(t.storage());
      track(t);
      set_var(op.b, y);
      return;
    }
    case OpKind::SetHooks: {
      const Held& v = vars_[op.a];
      const Held& value = vars_[op.b];
      in(v.sub, [&] {
        if (!subs_[v.sub].torch->is_wrapper<Tensor>(v.o)) {
          PyErr_Format(PyExc_TypeError, "_backward_hooks(): expected Tensor but got %s", Py_TYPE(v.o)->tp_name);
          throw PythonFailed{};
        }
        if (PyObject_SetAttrString(v.o, "_backward_hooks", value.o != nullptr ? value.o : Py_None) != 0) {
          throw PythonFailed{};
        }
      });
      return;
    }
    case OpKind::Teardown:
    case OpKind::AutoGc:
    case OpKind::kCount:
      break;
  }
  throw std::logic_error("revive-against-cpython: an op the witness does not perform");
}

std::optional<std::string> CPythonWitness::same(int model_w, const PyObj* real, const char* where) {
  if (real == nullptr) return std::string(where) + ": real has no object, model has wrapper " + std::to_string(model_w);
  // Every object compared is a wrapper (a Tensor's or a storage's): its serial, never an
  // address, tells it from one made later in the same memory.
  const std::uint64_t serial = serial_of(real);
  auto [it, fresh] = real_to_model_.try_emplace(serial, model_w);
  if (it->second != model_w) {
    return std::string(where) + ": the real object is model wrapper " + std::to_string(it->second) + ", expected " +
           std::to_string(model_w);
  }
  auto [jt, fresh_too] = model_to_real_.try_emplace(model_w, serial);
  if (jt->second != serial) {
    return std::string(where) + ": model wrapper " + std::to_string(model_w) +
           " was another real object (not the same object after all)";
  }
  return std::nullopt;
}

template <class H>
Cdata cdata_of(const PyObj* o) {
  const auto* w = reinterpret_cast<const WrapperObject<H>*>(o);
  return !w->cdata.defined() ? Cdata::Undefined : w->cdata.unsafeIsBorrowed() ? Cdata::Borrowed : Cdata::Owned;
}

const char* cdata_name(Cdata c) {
  return c == Cdata::Owned ? "owned" : c == Cdata::Borrowed ? "borrowed" : "undefined";
}

std::optional<std::string> CPythonWitness::compare(const Model& m) {
  std::ostringstream err;
  if (tracked_.size() != m.targets.size()) {
    err << "real tracks " << tracked_.size() << " tensors and storages, model " << m.targets.size();
    return err.str();
  }
  for (std::size_t t = 0; t < m.targets.size(); ++t) {
    const Target& mt = m.targets[t];
    const char* kind = mt.is_storage ? "storage " : "tensor ";
    const bool alive = tracked_[t].alive();
    if (alive != mt.alive) {
      err << kind << t << ": real " << (alive ? "alive" : "dead") << ", model " << (mt.alive ? "alive" : "dead");
      return err.str();
    }
    if (!alive) continue;
    const auto n = std::visit([](const auto* p) { return p->refcount(); }, tracked_[t].impl);
    const impl::PyObjectSlot* slot = std::visit([](const auto* p) { return p->pyobj_slot(); }, tracked_[t].impl);
    if (static_cast<int>(n) != mt.n) {
      err << kind << t << ": real n = " << n << ", model n = " << mt.n;
      return err.str();
    }
    const impl::PyInterpreter* tag = slot->pyobj_interpreter();
    const impl::PyInterpreter* want_tag = mt.tag < 0 ? nullptr : subs_[m.slot_of[mt.tag]].torch->pyinterpreter();
    if (tag != want_tag) {
      err << kind << t << ": real tag " << (tag == nullptr ? "-" : (*tag)->name()) << ", model "
          << (want_tag == nullptr ? "-" : (*want_tag)->name());
      return err.str();
    }
    if (tag == nullptr) continue;
    const auto* recorded = reinterpret_cast<const PyObj*>(slot->_unchecked_untagged_pyobj());
    if ((recorded != nullptr) != (mt.recorded >= 0)) {
      err << kind << t << ": the real slot " << (recorded != nullptr ? "records a wrapper" : "records none")
          << ", the model's " << (mt.recorded >= 0 ? "does" : "does not");
      return err.str();
    }
    if (recorded == nullptr) continue;
    if (auto e = same(mt.recorded, recorded, "recorded wrapper")) return kind + std::to_string(t) + ": " + *e;
    if (slot->owns_pyobj() != mt.owns) {
      err << kind << t << ": real owns = " << slot->owns_pyobj() << ", model owns = " << mt.owns;
      return err.str();
    }
    const Wrapper& p = m.wrappers[mt.recorded];
    if (Py_REFCNT(recorded) != p.r) {
      err << kind << t << ": recorded wrapper r = " << Py_REFCNT(recorded) << ", model r = " << p.r;
      return err.str();
    }
    const Cdata cdata = mt.is_storage ? cdata_of<Storage>(recorded) : cdata_of<Tensor>(recorded);
    if (cdata != p.cdata) {
      err << kind << t << ": recorded wrapper cdata " << cdata_name(cdata) << ", model " << cdata_name(p.cdata);
      return err.str();
    }
  }
  for (int v = 0; v < kVars; ++v) {
    const int w = m.held.vars[v];
    const Held& h = vars_[v];
    if ((h.o == nullptr) != (w < 0)) {
      err << "v" << v << ": real " << (h.o == nullptr ? "None" : "an object") << ", model "
          << (w < 0 ? "None" : "wrapper " + std::to_string(w));
      return err.str();
    }
    if (w < 0) continue;
    if (auto e = same(w, h.o, "variable")) return "v" + std::to_string(v) + ": " + *e;
    if (Py_REFCNT(h.o) != m.wrappers[w].r) {
      err << "v" << v << ": real r = " << Py_REFCNT(h.o) << ", model r = " << m.wrappers[w].r;
      return err.str();
    }
    std::optional<long long> foo;
    in(h.sub, [&] {
      if (PyObj* value = PyObject_GetAttrString(h.o, "foo"); value != nullptr) {
        foo = PyLong_AsLongLong(value);
        Py_DECREF(value);
      } else {
        PyErr_Clear();
      }
    });
    if (foo != m.wrappers[w].foo) {
      err << "v" << v << ": foo differs (real " << (foo ? std::to_string(*foo) : "unset") << ", model "
          << (m.wrappers[w].foo ? std::to_string(*m.wrappers[w].foo) : "unset") << ")";
      return err.str();
    }
  }
  for (int k = 0; k < kWeakrefVars; ++k) {
    const int wr = m.held.weakref_vars[k];
    const Held& h = weakref_vars_[k];
    if ((h.o == nullptr) != (wr < 0)) {
      err << "r" << k << ": real and model disagree on whether it is held";
      return err.str();
    }
    if (wr < 0) continue;
    const PyObj* referent = PyWeakref_GetObject(h.o);  // borrowed; reading needs no thread state
    const int want = m.weakrefs[wr].referent;
    if ((referent == Py_None) != (want < 0)) {
      err << "r" << k << "(): real " << (referent == Py_None ? "None" : "an object") << ", model "
          << (want < 0 ? "None" : "wrapper " + std::to_string(want));
      return err.str();
    }
    if (want >= 0) {
      if (auto e = same(want, referent, "weakref referent")) return "r" + std::to_string(k) + "(): " + *e;
    }
    if (counts_.callback_runs[h.o] != m.weakrefs[wr].callback_runs) {
      err << "r" << k << ": real callback ran " << counts_.callback_runs[h.o] << " times, model "
          << m.weakrefs[wr].callback_runs;
      return err.str();
    }
  }
  if (counts_.early_callbacks != 0) return std::string("a weakref callback read its referent");
  const int model_callbacks = m.callback_total;
  if (counts_.callbacks != model_callbacks) {
    err << "weakref callbacks: real ran " << counts_.callbacks << " in all, model " << model_callbacks;
    return err.str();
  }
  for (int s = 0; s < kInterpreters; ++s) {
    const int warnings = counts_.warnings[PyThreadState_GetInterpreter(subs_[s].ts)];
    if (warnings != m.interps[m.slot_interp[s]].warnings) {
      err << "I" << s << ": real " << warnings << " warnings, model " << m.interps[m.slot_interp[s]].warnings;
      return err.str();
    }
  }
  // Finalizers: every wrapper seen so far, dead ones too (a __del__ runs as its wrapper
  // dies), and the total, which also covers wrappers no comparison ever bound.
  const int model_finalizers = m.finalizer_total;
  if (counts_.finalizers != model_finalizers) {
    err << "__del__ ran " << counts_.finalizers << " time(s) in all, model " << model_finalizers;
    return err.str();
  }
  for (const auto& [w, serial] : model_to_real_) {
    if (!m.wrappers[w].has_finalizer) continue;
    const auto it = counts_.finalizer_runs.find(serial);
    const int runs = it == counts_.finalizer_runs.end() ? 0 : it->second;
    if (runs != m.wrappers[w].finalizer_runs) {
      err << "wrapper " << w << ": __del__ ran " << runs << " time(s), model " << m.wrappers[w].finalizer_runs;
      return err.str();
    }
  }
  // Live wrappers per interpreter (zombies, stubbed and hermetic ones included): a
  // leaked reference shows here even when no count of a C++ object moves.
  for (int s = 0; s < kInterpreters; ++s) {
    const int me = m.slot_interp[s];
    const auto model_live = std::count_if(m.wrappers.begin(), m.wrappers.end(),
                                          [&](const Wrapper& w) { return w.alive && w.interp == me; });
    if (subs_[s].torch->live_wrappers() != model_live) {
      err << "I" << s << ": real " << subs_[s].torch->live_wrappers() << " live wrappers, model " << model_live;
      return err.str();
    }
  }
  return std::nullopt;
}

}  // namespace

void start_cpython() {
  if (main_thread_state != nullptr) return;
  if (PyImport_AppendInittab("revive._C", &PyInit__C) != 0) throw std::runtime_error("PyImport_AppendInittab failed");
  // The C allocator, not pymalloc: AddressSanitizer then sees every object (an isolated
  // configuration ignores PYTHONMALLOC).
  PyPreConfig preconfig;
  PyPreConfig_InitIsolatedConfig(&preconfig);
  preconfig.allocator = PYMEM_ALLOCATOR_MALLOC;
  if (PyStatus_Exception(Py_PreInitialize(&preconfig))) throw std::runtime_error("revive-against-cpython: Py_PreInitialize failed");
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.site_import = 0;  // the subinterpreters start faster, and need nothing from site
  const PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) throw std::runtime_error("revive-against-cpython: CPython failed to start");
  main_thread_state = PyEval_SaveThread();  // scenarios take the GIL as they need it
}

WitnessKind cpython_witness() {
  return WitnessKind{"revive-against-cpython", [](Eras eras) { return std::make_unique<CPythonWitness>(eras); }};
}

}  // namespace revive::proof
