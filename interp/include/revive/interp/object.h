// object.h: what a fake Python object is made of.
//
// Defines:
//   revive::PyObject   the definition the core only declares (python_stub.h): a
//                      refcount, a type, an optional __dict__, __slots__ values, a
//                      weak-reference list, and the links of its interpreter's registry.
//   WeakrefObject      weakref.ref: a borrowed pointer to its referent and a callback.
//   PyType             a class: name, base, layout, __dict__ or not, own __slots__, an
//                      optional finalizer (__del__), its dealloc, traverse and clear
//                      entry points (tp_dealloc, tp_traverse, tp_clear), and the hook an
//                      extension's metaclass runs on every subclass.
//   Ref                an owning reference (like pybind11's py::object); an empty Ref
//                      plays None.
//   Value              what a dict entry, slot or global holds: None, int, str, object.
//
// An extension module (binding/ is one: PyTorch's THPVariable and THPStorage) defines
// its own instance structs by deriving from PyObject, as a C extension embeds
// PyObject_HEAD, and gives its types Layout::Native.
//
// Example (compiled in test/interp/object_test.cpp):
//   auto R = Runtime::create("I0");
//   Ref o = R->new_object(R->new_class("Point", R->object_type()));
//   R->setattr(o, "x", 1);
//   assert(std::get<std::int64_t>(R->getattr(o, "x")) == 1);
//
// Model simplifications: types are not objects (they live as long as their
// interpreter); only the kinds this design touches exist.
//
// Owns: Note [The type is the only dispatch].
#pragma once

#include <boost/intrusive/list.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "revive/pyslot/python_stub.h"

namespace revive::interp {

class Runtime;

// An owning reference to an object.  Copying increfs, destruction decrefs; both take
// the object's interpreter's GIL.  An empty Ref is None.
class Ref {
 public:
  Ref() noexcept = default;
  // Adopt one reference the caller already owns.
  [[nodiscard]] static Ref steal(PyObject* o) noexcept { return Ref(o); }
  // Take a new reference (incref).
  [[nodiscard]] static Ref borrow(PyObject* o);

  Ref(const Ref& o);
  Ref(Ref&& o) noexcept : obj_(std::exchange(o.obj_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(obj_, o.obj_);
    return *this;
  }
  ~Ref() { reset(); }

  void reset() noexcept;
  [[nodiscard]] PyObject* get() const noexcept { return obj_; }
  PyObject* operator->() const noexcept { return obj_; }
  [[nodiscard]] bool is_none() const noexcept { return obj_ == nullptr; }
  explicit operator bool() const noexcept { return obj_ != nullptr; }
  // Hand the reference out; the caller now owns it.
  [[nodiscard]] PyObject* release() noexcept { return std::exchange(obj_, nullptr); }

  // Python's `is`.
  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.obj_ == b.obj_; }

 private:
  explicit Ref(PyObject* o) noexcept : obj_(o) {}
  PyObject* obj_ = nullptr;
};

// Prints "None" or "<Type object #id>".
std::ostream& operator<<(std::ostream& os, const Ref& r);

// None, an int, a str, or a reference to another object of the same interpreter.
struct None {
  friend bool operator==(None, None) noexcept { return true; }
};
using Value = std::variant<None, std::int64_t, std::string, Ref>;

// Which C-level struct an instance is (its "tp_basicsize" family).
enum class Layout {
  Object,   // a plain PyObject: instances of user classes (trackers, containers)
  Weakref,  // WeakrefObject: weakref.ref
  Native,   // a struct an extension module derives from PyObject; which one is the
            // module's business (PyType::native).  Only the module makes them.
};

// __del__: receives a new reference to the object; may store it somewhere to
// resurrect the object (PEP 442), or throw (the exception is reported and ignored).
using Finalizer = std::function<void(Runtime&, const Ref& self)>;
// A weakref callback: receives the (now dead) weakref object.
using WeakCallback = std::function<void(Runtime&, const Ref& weakref)>;

// The type slots the cycle collector uses, as in CPython: traverse calls `visit` once
// per object `self` holds a reference to; clear drops those references to break a
// cycle (the object may survive it).  dealloc runs when the refcount reaches 0.
// new_class chooses them (see src/gc.cpp), then the base's on_subclass hook may replace
// them; a null traverse means "not GC-tracked".
using VisitProc = void (*)(PyObject* referent, void* arg);
using TraverseProc = void (*)(PyObject* self, VisitProc visit, void* arg);
using ClearProc = void (*)(PyObject* self) noexcept;
using DeallocProc = void (*)(PyObject* self) noexcept;
// tp_free: the last step of a dealloc, deleting the struct of the type's layout.
using FreeProc = void (*)(PyObject* self) noexcept;
struct PyType;
// What an extension's metaclass does to each new subclass of its types (PyTorch's
// _TensorMeta installs its own dealloc, traverse and clear on every Tensor subclass).
using SubclassHook = std::function<void(PyType& subclass)>;

struct PyType {
  std::string name;
  const PyType* base = nullptr;  // nullptr only for `object`
  Layout layout = Layout::Object;
  const void* native = nullptr;           // Layout::Native: the module's description of
                                          // its struct (binding/: a WrapperOps)
  bool has_dict = false;                  // instances have a __dict__
  std::vector<std::string> own_slots;     // __slots__ declared by this class itself
  std::size_t slot_offset = 0;            // index of own_slots[0] in PyObject::slots
  Finalizer finalizer;                    // this class's own __del__, if any
  bool torch_dispatch = false;            // defines (or inherits) __torch_dispatch__
  DeallocProc dealloc = nullptr;          // tp_dealloc
  TraverseProc traverse = nullptr;        // tp_traverse; null: instances are not tracked
  ClearProc clear = nullptr;              // tp_clear
  FreeProc free = nullptr;                // tp_free: free_as<the layout's struct>
  SubclassHook on_subclass;               // inherited; run by new_class on each subclass

  [[nodiscard]] std::size_t total_slots() const noexcept { return slot_offset + own_slots.size(); }
  [[nodiscard]] bool is_subtype_of(const PyType* other) const noexcept;
  // __del__ as attribute lookup finds it: this class or the nearest base.
  [[nodiscard]] const Finalizer* find_finalizer() const noexcept;
  // Index into PyObject::slots of the __slots__ entry `attr`, if any level declares it.
  [[nodiscard]] std::optional<std::size_t> find_slot(const std::string& attr) const;
};

// Hook types: one list per role, so an object can be in its interpreter's registry,
// in one of its collector's lists and (for a weakref) in its referent's weakref list
// at the same time.  The collector's hook unlinks itself (CPython's gc_list_remove):
// an object can die while it sits in a list private to a running collection.
struct RegistryTag;
struct WeakrefListTag;
struct GcTag;
using RegistryHook = boost::intrusive::list_base_hook<boost::intrusive::tag<RegistryTag>>;
using WeakrefHook = boost::intrusive::list_base_hook<boost::intrusive::tag<WeakrefListTag>>;
using GcHook = boost::intrusive::list_base_hook<
    boost::intrusive::tag<GcTag>, boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// The part of a weakref that its referent's list links; see WeakrefObject.
struct WeakrefLink : WeakrefHook {};
using WeakrefList =
    boost::intrusive::list<WeakrefLink, boost::intrusive::base_hook<WeakrefHook>,
                           boost::intrusive::constant_time_size<false>>;

}  // namespace revive::interp

namespace revive {

// The fake interpreter's object header.  Every field is protected by the owning
// interpreter's GIL.
struct alignas(8) PyObject : interp::RegistryHook, interp::GcHook {
  PyObject(interp::Runtime* owner, const interp::PyType* type);
  // Not virtual: an object is deleted only through its type's free slot (free_as<Obj>),
  // which knows the struct.  See Note [The type is the only dispatch].
  ~PyObject();
  PyObject(const PyObject&) = delete;
  PyObject& operator=(const PyObject&) = delete;

  std::ptrdiff_t ob_refcnt = 1;             // owned references, from Ref/Value/C++ slots
  const interp::PyType* const ob_type;      // fixed at creation
  interp::Runtime* const interp;            // the interpreter that made it
  const std::uint64_t id;                   // for printing; unique per process
  std::optional<std::map<std::string, interp::Value>> dict;  // __dict__, made on first use
  std::vector<interp::Value> slots;         // __slots__ of every class level, flattened
  interp::WeakrefList weakrefs;             // weakrefs pointing here (borrowed links)
  bool finalized = false;                   // __del__ has run (PEP 442: at most once)
  // The collector's scratch count (CPython's gc_refs): only meaningful during a
  // collection.  Linked into a generation list (GcHook) while tracked.
  std::ptrdiff_t gc_refs = 0;
  std::uint8_t gc_phase = 0;                // 1 while its generation is being collected
  bool gc_unreachable = false;              // in the collection's unreachable list
};

}  // namespace revive

namespace revive::interp {

// A list of the collector (a generation, or one a collection works through).  Not
// constant-time size: that is what lets a dying object unlink itself (GcHook).
using GcList = boost::intrusive::list<PyObject, boost::intrusive::base_hook<GcHook>,
                                      boost::intrusive::constant_time_size<false>>;

// PyObjectSlot keeps its owns bit in bit 0 of the wrapper pointer, and (a model
// addition) its retired bit in bit 1.
static_assert(alignof(PyObject) >= 4,
              "bits 0 and 1 of a PyObject* must be free for the slot's owns and retired bits");

struct WeakrefObject final : PyObject, WeakrefLink {
  using PyObject::PyObject;
  PyObject* referent = nullptr;  // borrowed; null once the referent died (reads None)
  WeakCallback callback;
};

// Note [The type is the only dispatch]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// What happens to an object is decided by its type's slots and by nothing else, as in
// CPython: dealloc (tp_dealloc) when its count reaches zero, traverse and clear
// (tp_traverse, tp_clear) for the collector, free (tp_free) to delete the struct.
// PyObject has no virtual functions, so there is no second, C++-level dispatch that
// could disagree with the first; and the binding keeps no kind enum of its own: a
// native type's description (PyType::native) is the binding's WrapperOps table, found
// through the type.
//
// PyType::layout is not a dispatch either: it is which struct the type's instances
// are (CPython's tp_basicsize family), fixed when the type is made.  It is read to
// choose a new class's slots (install_type_slots), and by the checks that ask "is this
// that struct?" before a cast, as PyWeakref_Check and THPVariable_Check do.
//
// Tempting and wrong: `delete o` on a PyObject*.  Without a virtual destructor that
// would run only ~PyObject, skipping the members of a WeakrefObject or a wrapper
// (its cdata: a leaked tensor).  free_object calls o->ob_type->free(o) instead.
template <class Obj>
void free_as(PyObject* o) noexcept {
  delete static_cast<Obj*>(o);
}

}  // namespace revive::interp
