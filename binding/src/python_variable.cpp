// PyTorch's two preserved types, Tensor (THPVariable) and Storage (THPStorage), and the
// library's third, a grad_fn (autograd::NodeHandle, when an interpreter preserves them): the
// protocol of python_variable.h instantiated once for each.
#include "revive/binding/python_variable.h"

namespace revive::binding {

template const PyType* Torch::add_preserved_type<Tensor>();
template const PyType* Torch::add_preserved_type<Storage>();
template const PyType* Torch::python_type<Tensor>() const;
template const PyType* Torch::python_type<Storage>() const;
template Ref Torch::wrap<Tensor>(const Tensor&);
template Ref Torch::wrap<Storage>(const Storage&);
template Ref Torch::new_with_var<Tensor>(const PyType*, const Tensor&);
template Ref Torch::new_with_var<Storage>(const PyType*, const Storage&);
template Tensor Torch::unpack_as<Tensor>(const Ref&, const char*);
template Storage Torch::unpack_as<Storage>(const Ref&, const char*);
template Ref Torch::new_wrapper<Tensor>(const PyType*, const Tensor&, impl::PyInterpreterStatus);
template Ref Torch::new_wrapper<Storage>(const PyType*, const Storage&, impl::PyInterpreterStatus);
template const PyType* Torch::add_preserved_type<autograd::NodeHandle>();
template Ref Torch::wrap<autograd::NodeHandle>(const autograd::NodeHandle&);
template Ref Torch::new_with_var<autograd::NodeHandle>(const PyType*, const autograd::NodeHandle&);
template autograd::NodeHandle Torch::unpack_as<autograd::NodeHandle>(const Ref&, const char*);

}  // namespace revive::binding
