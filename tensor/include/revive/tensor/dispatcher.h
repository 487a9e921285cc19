// dispatcher.h: a minimal C++ operator registry, enough to route Python operators.
//
// Defines:
//   Stack           the arguments and results of a call (tensors only, in this model).
//   OperatorHandle  a registered operator: its name, its kernel, and a PyHandleCache for
//                   its Python twin (the OpOverload object Python code sees).
//   Dispatcher      the process-wide registry (c10::Dispatcher, reduced to one kernel per
//                   operator).
//
// Example (compiled in test/binding/python_ops_test.cpp):
//   Dispatcher& d = Dispatcher::singleton();
//   const OperatorHandle& op = d.registerOperator("mylib::twice");
//   d.registerKernel(op, [](const OperatorHandle&, Stack* s) { ... });
//   Stack s{{Tensor::empty(2)}};
//   d.call(op, &s);
//
// The kernel of a Python-implemented operator lives in interp/ (PythonKernel): it is
// where the routing of Note [Python op registration trampoline] happens.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "revive/pyslot/py_handle_cache.h"
#include "revive/tensor/tensor_impl.h"

namespace revive {

struct Stack {
  std::vector<Tensor> values;
};

class OperatorHandle {
 public:
  using Kernel = std::function<void(const OperatorHandle&, Stack*)>;

  explicit OperatorHandle(std::string name) : name_(std::move(name)) {}
  OperatorHandle(const OperatorHandle&) = delete;
  OperatorHandle& operator=(const OperatorHandle&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // The Python twin of this operator, cached for the first interpreter that asks.
  // See Note [PyHandleCache is a cache and a handle].
  [[nodiscard]] const impl::PyHandleCache& python_twin() const noexcept { return twin_; }

 private:
  friend class Dispatcher;
  const std::string name_;
  impl::PyHandleCache twin_;
  Kernel kernel_;  // written once, under the dispatcher's mutex, before any call
};

class Dispatcher {
 public:
  [[nodiscard]] static Dispatcher& singleton();

  // The operator called `name`, created on first registration.  Handles live as long
  // as the process.
  const OperatorHandle& registerOperator(const std::string& name);
  // Throws if the operator already has a kernel.
  void registerKernel(const OperatorHandle& op, OperatorHandle::Kernel kernel);
  [[nodiscard]] const OperatorHandle* findOp(const std::string& name) const;
  [[nodiscard]] bool hasKernel(const OperatorHandle& op) const;
  // Run the operator's kernel on `stack` (arguments in, results out).
  void call(const OperatorHandle& op, Stack* stack) const;

  // Test fixtures only: drop the kernels of every operator whose name starts with
  // `prefix` (handles stay valid).
  void unsafe_reset_kernels_for_testing(const std::string& prefix);

 private:
  Dispatcher() = default;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<OperatorHandle>> ops_;
};

}  // namespace revive
