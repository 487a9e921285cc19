#include "revive/interp/inspect.h"

#include <ostream>

namespace revive::interp {
namespace {

template <class Obj>
CdataRead read(const PyObject* o) {
  const auto* w = static_cast<const Obj*>(o);
  if (!w->cdata.defined()) return {CdataKind::Undefined, nullptr};
  return {w->cdata.unsafeIsBorrowed() ? CdataKind::Borrowed : CdataKind::Owned, w->cdata.get()};
}

Snapshot snapshot(Interpreter& interp, const impl::PyObjectSlot* slot, std::uint32_t strong) {
  GilGuard gil(interp.gil());
  Snapshot s;
  s.strong = strong;
  impl::PyInterpreter* tag = slot->pyobj_interpreter();
  if (tag == nullptr) {  // s.tag is "-" from its initializer: assigning it here trips
                        // g++ 12's false -Wrestrict at -O2 (GCC PR 105329)
    s.state = SlotState::U;
    return s;
  }
  s.tag = (*tag)->name();
  if (tag != interp.pyinterpreter()) {
    s.state = SlotState::X;  // pyobj_ belongs to another GIL: do not read it
    return s;
  }
  s.owns = slot->owns_pyobj();
  s.recorded = slot->_unchecked_untagged_pyobj();
  if (s.recorded == nullptr) {
    s.state = SlotState::T0;
    return s;
  }
  s.refcnt = s.recorded->ob_refcnt;
  s.cdata = read_cdata(s.recorded).kind;
  s.state = s.owns ? SlotState::Z : SlotState::L;
  return s;
}

}  // namespace

CdataRead read_cdata(const PyObject* o) {
  switch (o->ob_type->kind) {
    case Kind::Tensor: return read<TensorObject>(o);
    case Kind::Storage: return read<StorageObject>(o);
    case Kind::Object:
    case Kind::Weakref: break;
  }
  return {};
}

Snapshot inspect(Interpreter& interp, const TensorImpl* target) {
  return snapshot(interp, target->pyobj_slot(), target->refcount());
}

Snapshot inspect(Interpreter& interp, const StorageImpl* target) {
  return snapshot(interp, target->pyobj_slot(), target->refcount());
}

std::string_view to_string(SlotState s) noexcept {
  switch (s) {
    case SlotState::U: return "U";
    case SlotState::T0: return "T0";
    case SlotState::L: return "L";
    case SlotState::Z: return "Z";
    case SlotState::X: return "X";
  }
  return "?";
}

std::string_view to_string(CdataKind c) noexcept {
  switch (c) {
    case CdataKind::NoWrapper: return "-";
    case CdataKind::Owned: return "owned";
    case CdataKind::Borrowed: return "borrowed";
    case CdataKind::Undefined: return "undefined";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, SlotState s) { return os << to_string(s); }
std::ostream& operator<<(std::ostream& os, CdataKind c) { return os << to_string(c); }

}  // namespace revive::interp
