// The fake runtime and the binding, as the ways of seeing read them.
#include "revive/binding/runtime_view.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <variant>

#include "revive/binding/interpreter.h"

namespace revive::binding {
const std::string& FakeRuntimeView::name() const noexcept { return interp_.name(); }
const impl::PyInterpreter* FakeRuntimeView::tag() const noexcept { return interp_.pyinterpreter(); }
bool FakeRuntimeView::is_finalized() const noexcept { return interp_.is_finalized(); }
void FakeRuntimeView::lock() const { interp_.gil().acquire(); }
void FakeRuntimeView::unlock() const { interp_.gil().release(); }

trace::WrapperFacts FakeRuntimeView::facts(const PyObject* o) const {
  trace::WrapperFacts f;
  f.id = o->id;
  f.type = o->ob_type->name;
  f.interpreter = o->interp->name();
  f.refcnt = o->ob_refcnt;
  if (const WrapperOps* ops = wrapper_ops(o)) f.cdata = ops->read_cdata(o, &f.target);
  if (o->dict.has_value()) {
    for (const auto& [key, value] : *o->dict) f.attributes.push_back(key);
  }
  std::vector<std::pair<std::size_t, std::string>> slots;
  for (const interp::PyType* t = o->ob_type; t != nullptr; t = t->base) {
    for (std::size_t i = 0; i < t->own_slots.size(); ++i) {
      if (!std::holds_alternative<interp::None>(o->slots[t->slot_offset + i])) {
        slots.emplace_back(t->slot_offset + i, t->own_slots[i]);
      }
    }
  }
  std::sort(slots.begin(), slots.end());
  for (auto& [index, name] : slots) f.attributes.push_back(std::move(name));
  f.weakrefs = static_cast<std::size_t>(std::distance(o->weakrefs.begin(), o->weakrefs.end()));
  return f;
}

const trace::RuntimeView& FakeRuntimeView::home_of(const PyObject* o) const {
  return Interpreter::of(*o->interp).view();
}

}  // namespace revive::binding
