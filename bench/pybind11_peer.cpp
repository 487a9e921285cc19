// pybind11_peer: revive's C++ tensor bound the way a pybind11 user binds an intrusively
// counted C++ type, for bench/versus_pybind11.py to measure beside the `revive` module.
//
//   import pybind11_peer as peer
//   t = peer.empty(2); t.foo = 1        # py::dynamic_attr(): a __dict__
//   holder = peer.empty(1); holder.grad = t
//   del t; holder.grad.foo              # AttributeError: the wrapper died with Python's
//                                       # last reference; C++ kept only the tensor
//
// The same TensorImpl as the revive module's (tensor/), held by a pybind11 holder type
// around revive's intrusive_ptr.  What pybind11 gives a C++ object is its
// registered-instances map: a wrapper is found again by the object's address while it is
// alive (identity, and its __dict__, only as long as Python keeps the wrapper), and a
// new wrapper is made otherwise.  The slot the TensorImpl carries is never touched here.
// docs/other-bindings.md tells pybind11's design; docs/performance.md §11 measures it.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>

#include "revive/tensor/tensor_impl.h"

namespace py = pybind11;

namespace {

using revive::intrusive_ptr;
using revive::TensorImpl;

// pybind11's holder contract: constructible from the raw pointer (it builds one when it
// wraps an object it was handed by pointer) and .get().  For an intrusively counted
// object, a holder made from the raw pointer takes a new reference to it.
template <class T>
class IntrusiveHolder {
 public:
  IntrusiveHolder() = default;
  explicit IntrusiveHolder(T* raw)
      : ptr_(raw == nullptr ? intrusive_ptr<T>() : intrusive_ptr<T>::unsafe_reclaim_from_nonowning(raw)) {}
  explicit IntrusiveHolder(intrusive_ptr<T> ptr) noexcept : ptr_(std::move(ptr)) {}
  [[nodiscard]] T* get() const noexcept { return ptr_.get(); }
  [[nodiscard]] const intrusive_ptr<T>& ptr() const noexcept { return ptr_; }

 private:
  intrusive_ptr<T> ptr_;
};

using Holder = IntrusiveHolder<TensorImpl>;

Holder empty(std::int64_t numel) { return Holder(revive::Tensor::empty(numel).getIntrusivePtr()); }

}  // namespace

// The holder is built even for a pointer pybind11 did not allocate (true): as for any
// intrusive pointer.
PYBIND11_DECLARE_HOLDER_TYPE(T, IntrusiveHolder<T>, true)

PYBIND11_MODULE(pybind11_peer, m) {
  m.doc() = "revive's TensorImpl bound with pybind11 (bench/pybind11_peer.cpp): the peer revive is measured against";
  py::class_<TensorImpl, Holder>(m, "Tensor", py::dynamic_attr())
      .def(py::init(&empty), py::arg("numel") = 1)
      .def_property(
          "grad",
          [](const TensorImpl& self) -> py::object {
            if (!self.grad().defined()) return py::none();
            return py::cast(Holder(self.grad()));
          },
          [](TensorImpl& self, const py::object& value) {
            if (value.is_none()) {
              self.set_grad(intrusive_ptr<TensorImpl>());
              return;
            }
            self.set_grad(value.cast<Holder>().ptr());
          },
          "the gradient, held by the C++ tensor")
      .def("numel", &TensorImpl::numel, "the number of elements");
  m.def("empty", &empty, py::arg("numel") = 1, "a new tensor, wrapped");
  m.attr("PYBIND11_VERSION") = std::to_string(PYBIND11_VERSION_MAJOR) + "." + std::to_string(PYBIND11_VERSION_MINOR) +
                               "." + std::to_string(PYBIND11_VERSION_PATCH);
}
