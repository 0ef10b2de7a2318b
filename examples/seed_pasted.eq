% The seed's example as the blog post writes it, pasted line by line: the
% display wrappers \[ \] and \( \), the aligned block with its chain of
% restatements (each checked to equal the definition), and a trailing period.
% Only the declarations and the definition of h are added.
% test-sizes: n=7
input y^0_i, 0 \le i < n
param w_a, 0 \le a \le 3
h(z) = \tanh(z)
\[ x^1_{i}=w_0 y^0_{i} \]
\(y^1_i=h(x^1_{i})\)
\[ \begin{aligned} x^2_{i}&=\sum_{a=1}^3 w_a y^1_{i+a-1} \\ &= w_1 y^1_i + w_2 y^1_{i+1} + w_3 y^1_{i+2} \\ &= w_1 h\left(w_0 y^0_{i}\right) + w_2 h\left(w_0 y^0_{i+1}\right) + w_3 h\left(w_0 y^0_{i+2}\right). \\ \end{aligned} \]
\[ y^2_{i} = h(x^2_{i}). \]
output y^2
