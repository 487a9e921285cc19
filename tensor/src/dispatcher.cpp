#include "revive/tensor/dispatcher.h"

namespace revive {

Dispatcher& Dispatcher::singleton() {
  static Dispatcher d;
  return d;
}

const OperatorHandle& Dispatcher::registerOperator(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = ops_[name];
  if (!slot) slot = std::make_unique<OperatorHandle>(name);
  return *slot;
}

void Dispatcher::registerKernel(const OperatorHandle& op, OperatorHandle::Kernel kernel) {
  std::lock_guard lock(mutex_);
  auto& handle = const_cast<OperatorHandle&>(op);  // handles are owned by ops_
  REVIVE_CHECK(!handle.kernel_, "operator ", op.name(), " already has a kernel");
  handle.kernel_ = std::move(kernel);
}

const OperatorHandle* Dispatcher::findOp(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : it->second.get();
}

bool Dispatcher::hasKernel(const OperatorHandle& op) const {
  std::lock_guard lock(mutex_);
  return static_cast<bool>(op.kernel_);
}

void Dispatcher::call(const OperatorHandle& op, Stack* stack) const {
  OperatorHandle::Kernel kernel;
  {
    std::lock_guard lock(mutex_);
    kernel = op.kernel_;
  }
  REVIVE_CHECK(static_cast<bool>(kernel), "operator ", op.name(), " has no kernel");
  kernel(op, stack);
}

void Dispatcher::unsafe_reset_kernels_for_testing(const std::string& prefix) {
  std::lock_guard lock(mutex_);
  for (auto& [name, handle] : ops_) {
    if (name.rfind(prefix, 0) == 0) handle->kernel_ = nullptr;
  }
}

}  // namespace revive
