// live_count.h: how many objects of each preserved C++ type are alive, process-wide.
//
// Defines: LiveCount, one counter per C++ type that embeds a PyObjectSlot (TensorImpl,
// StorageImpl, and any type an extension or a test adds).  Every counter registers
// itself, so the leak checks, the tour's last line and the pictures count every
// preserved type without naming them.
//
// Example (test/tensor/tensor_test.cpp, live_counts_cover_every_type):
//   const auto before = LiveCount::total();
//   { Tensor t = Tensor::empty(2); }             // a TensorImpl and a StorageImpl
//   assert(LiveCount::total() == before);
//   assert(LiveCount::of("TensorImpl") != nullptr);
//
// A type counts its instances with one static LiveCount, incremented in its
// constructor and decremented in its destructor (see TensorImpl).  Counters are never
// destroyed: they must outlive every object, including abandoned ones.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace revive {

class LiveCount {
 public:
  // Registers the counter under `type_name` (unique: a second counter of the same name
  // is a programming error and aborts).
  explicit LiveCount(std::string_view type_name);
  LiveCount(const LiveCount&) = delete;
  LiveCount& operator=(const LiveCount&) = delete;

  void increment() noexcept { live_.fetch_add(1, std::memory_order_relaxed); }
  void decrement() noexcept { live_.fetch_sub(1, std::memory_order_relaxed); }
  [[nodiscard]] std::int64_t get() const noexcept { return live_.load(std::memory_order_relaxed); }
  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }

  // Every registered counter, in registration order.
  [[nodiscard]] static std::vector<const LiveCount*> all();
  // The sum over every registered counter.
  [[nodiscard]] static std::int64_t total();
  // The counter registered under `type_name`, or null.
  [[nodiscard]] static const LiveCount* of(std::string_view type_name);

 private:
  const std::string type_name_;
  std::atomic<std::int64_t> live_{0};
};

}  // namespace revive
