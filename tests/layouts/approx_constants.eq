% Literals that clippy takes for pi and e (3.14159, 2.71828) in a kernel
% body, as a user may type them: pasted code must still pass clippy.
% test-sizes: n=5
input y_i, 0 \le i < n
x_i = 3.14159 y_i + 2.71828 \tanh(y_i)
output x
