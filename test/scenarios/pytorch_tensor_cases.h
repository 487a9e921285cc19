// The cases of pytorch_tensor_test.cpp, included there twice: once in the era-E2 suite and
// once in the era-E4 one (PyTorch's expectations of each; `era` says which runs).
// Not a header of its own: it needs that file's includes, usings and fixture.
// NOLINTBEGIN(misc-definitions-in-headers)

// test_pyobj_preserved:
//   x = torch.empty(2); x.foo = 2; y = torch.empty(2); y.grad = x; del x
//   assert y.grad.foo == 2; z = y.grad; del z; assert y.grad.foo == 2
BOOST_AUTO_TEST_CASE(test_pyobj_preserved) {
  Ref x = I->empty(2);
  I->setattr(x, "foo", std::int64_t{2});
  Ref y = I->empty(2);
  set_grad(*I, y, x);
  x.reset();
  BOOST_TEST(int_attr(grad(*I, y), "foo") == 2);
  Ref z = grad(*I, y);
  z.reset();
  BOOST_TEST(int_attr(grad(*I, y), "foo") == 2);
}

// test_subclass_preserved:
//   class MyTensor(torch.Tensor): cls = 1
//   x = MyTensor(torch.empty(2)); x.foo = 2; y = torch.empty(2); y.grad = x; del x
//   assert type(y.grad) is MyTensor; assert y.grad.foo == 2
BOOST_AUTO_TEST_CASE(test_subclass_preserved) {
  const PyType* my_tensor = I->new_class("MyTensor", I->tensor_type());
  Ref x = I->empty(2, my_tensor);
  I->setattr(x, "foo", std::int64_t{2});
  Ref y = I->empty(2);
  set_grad(*I, y, x);
  x.reset();
  BOOST_TEST(I->type_of(grad(*I, y)) == my_tensor);
  BOOST_TEST(int_attr(grad(*I, y), "foo") == 2);
}

// test_tensor_slot_dealloc:
//   class SlotTensor1(torch._C.TensorBase): __slots__ = ['slot1']
//   class SlotTensor2(SlotTensor1): __slots__ = ['slot2']
//   slot_tensor = SlotTensor2(torch.empty(2)); slot_tensor.slot1 = t1; ...slot2 = t2
//   del t1, t2: not finalized; del slot_tensor: both finalized
BOOST_AUTO_TEST_CASE(test_tensor_slot_dealloc) {
  const PyType* s1 = I->new_class("SlotTensor1", I->tensor_type(), ClassSpec{std::vector<std::string>{"slot1"}, {}});
  const PyType* s2 = I->new_class("SlotTensor2", s1, ClassSpec{std::vector<std::string>{"slot2"}, {}});
  auto [m1, t1] = make_tracker();
  auto [m2, t2] = make_tracker();
  Ref slot_tensor = I->empty(2, s2);
  I->setattr(slot_tensor, "slot1", t1);
  I->setattr(slot_tensor, "slot2", t2);
  t1.reset();
  t2.reset();
  BOOST_TEST(!*m1);
  BOOST_TEST(!*m2);
  slot_tensor.reset();
  BOOST_TEST(*m1);
  BOOST_TEST(*m2);
}

// test_tensor_dict_dealloc:
//   x = torch.empty(2); x.arf = t; del t: not finalized; del x: finalized
BOOST_AUTO_TEST_CASE(test_tensor_dict_dealloc) {
  auto [m, t] = make_tracker();
  Ref x = I->empty(2);
  I->setattr(x, "arf", t);
  t.reset();
  BOOST_TEST(!*m);
  x.reset();
  BOOST_TEST(*m);
}

// test_tensor_finalizer_dealloc:
//   class FinalizerTensor(torch._C.TensorBase): def __del__(self): m[0] = True
//   fin_tensor = FinalizerTensor(torch.empty(2)); not m[0]; del fin_tensor; m[0]
BOOST_AUTO_TEST_CASE(test_tensor_finalizer_dealloc) {
  auto m = std::make_shared<bool>(false);
  const PyType* fin = I->new_class("FinalizerTensor", I->tensor_type(),
                                   ClassSpec{std::nullopt, [m](Runtime&, const Ref&) { *m = true; }});
  Ref fin_tensor = I->empty(2, fin);
  BOOST_TEST(!*m);
  fin_tensor.reset();
  BOOST_TEST(*m);
}

// test_tensor_weakref_dealloc:
//   x = torch.empty(2); wref = weakref.ref(x, cb); del x; m[0]; wref() is None
BOOST_AUTO_TEST_CASE(test_tensor_weakref_dealloc) {
  Ref x = I->empty(2);
  bool m = false;
  Ref wref = I->weakref(x, [&m](Runtime&, const Ref&) { m = true; });
  x.reset();
  BOOST_TEST(m);
  BOOST_TEST(I->deref(wref).is_none());
}

// test_tensor_dead_weak_ref (E2):
//   x = torch.empty(2); w_x = weakref.ref(x); y = torch.empty(2); y.grad = x; del x
//   x = w_x(); del y
//   self.assertRaises(RuntimeError, lambda: x.sigmoid())
// E4's text:
//   x = torch.ones(2); w_x = weakref.ref(x); y = torch.ones(2); y.grad = x; del x
//   x = w_x()   # x should keep the tensor live. This didn't happen in earlier PyTorch versions.
//   del y; self.assertEqual(2, x.sum()); del x; self.assertIsNone(w_x())
BOOST_AUTO_TEST_CASE(test_tensor_dead_weak_ref, *utf::label("weakref-hole")) {
  Ref x = I->empty(2);
  Ref w_x = I->weakref(x);
  Ref y = I->empty(2);
  set_grad(*I, y, x);
  x.reset();
  x = I->deref(w_x);
  y.reset();
  if (era == Era::E4) {
    BOOST_TEST(I->unpack(x).numel() == 2);  // x.sum() of ones(2): its tensor is alive
    BOOST_TEST(!sigmoid(*I, x).is_none());
    BOOST_TEST(I->warnings().empty());
    x.reset();
    BOOST_TEST(I->deref(w_x).is_none());
    return;
  }
  BOOST_CHECK_EXCEPTION((void)sigmoid(*I, x), Error,
                        message_is("Expected a proper Tensor but got None (or an undefined Tensor "
                                   "in C++) for argument #0 'self'"));
  BOOST_TEST(I->warnings().size() == 1u);
}

// test_tensor_resurrected_weak_ref:
//   ... x = w_x(); x._fix_weakref(); del y; x.sigmoid()
BOOST_AUTO_TEST_CASE(test_tensor_resurrected_weak_ref, *utf::label("weakref-hole")) {
  Ref x = I->empty(2);
  Ref w_x = I->weakref(x);
  Ref y = I->empty(2);
  set_grad(*I, y, x);
  x.reset();
  x = I->deref(w_x);
  I->fix_weakref(x);
  y.reset();
  Ref s = sigmoid(*I, x);
  BOOST_TEST(!s.is_none());
  BOOST_TEST(I->warnings().empty());
}

// test_tensor_fix_weakref_no_leak:
//   a = torch.randn(1); wa = weakref.ref(a, callback); a._fix_weakref(); del a; called
BOOST_AUTO_TEST_CASE(test_tensor_fix_weakref_no_leak, *utf::label("weakref-hole")) {
  bool called = false;
  Ref a = I->empty(1);
  Ref wa = I->weakref(a, [&called](Runtime&, const Ref&) { called = true; });
  I->fix_weakref(a);
  a.reset();
  BOOST_TEST(called);
}
// NOLINTEND(misc-definitions-in-headers)
