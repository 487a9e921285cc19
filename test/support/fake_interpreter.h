// fake_interpreter.h: test doubles for the layers below the runtimes (pyslot/, tensor/).
//
//   RecordingVTable   a PyInterpreterVTable that records every call (decref arguments,
//                     name and type_name calls) and can run a hook on decref.
//   FakeInterpreter   a RecordingVTable and the PyInterpreter pointing at it.
//   FakeWrapper       aligned bytes that stand for a wrapper: pyslot and tensor code
//                     store and compare PyObject pointers but never dereference them.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "revive/pyslot/py_interpreter.h"

namespace revive::testing {

// One decref an interpreter was asked for.
struct DecrefCall {
  PyObject* pyobj;
  bool has_pyobj_slot;
};

class RecordingVTable final : public impl::PyInterpreterVTable {
 public:
  explicit RecordingVTable(std::string name) : name_(std::move(name)) {}

  std::string name() const override {
    ++name_calls_;
    return name_;
  }
  void decref(PyObject* pyobj, bool has_pyobj_slot) const override {
    decrefs_.push_back({pyobj, has_pyobj_slot});
    if (on_decref) on_decref();
  }
  std::string type_name(const PyObject* pyobj) const override {
    type_name_args_.push_back(pyobj);
    return "FakeTensor";
  }

  [[nodiscard]] const std::vector<DecrefCall>& decrefs() const noexcept { return decrefs_; }
  [[nodiscard]] const std::vector<const PyObject*>& type_name_args() const noexcept {
    return type_name_args_;
  }
  [[nodiscard]] int name_calls() const noexcept { return name_calls_; }
  [[nodiscard]] std::size_t total_calls() const noexcept {
    return static_cast<std::size_t>(name_calls_) + decrefs_.size() + type_name_args_.size();
  }

  std::function<void()> on_decref;  // runs after each recorded decref

 private:
  std::string name_;
  mutable int name_calls_ = 0;
  mutable std::vector<DecrefCall> decrefs_;
  mutable std::vector<const PyObject*> type_name_args_;
};

struct FakeInterpreter {
  explicit FakeInterpreter(std::string name) : vtable(std::move(name)), interp(&vtable) {}
  FakeInterpreter(const FakeInterpreter&) = delete;
  FakeInterpreter& operator=(const FakeInterpreter&) = delete;

  RecordingVTable vtable;
  impl::PyInterpreter interp;
};

struct FakeWrapper {
  alignas(16) unsigned char bytes[16]{};
  [[nodiscard]] PyObject* get() noexcept { return reinterpret_cast<PyObject*>(bytes); }
};

}  // namespace revive::testing
