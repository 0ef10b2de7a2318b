% A tensor read both inside a maximum and elsewhere: its adjoint mixes
% arg-max terms with ordinary ones. A row-wise softmax (the max over a
% whole row, subtracted for stability) and an overlapping 3-wide, stride-2
% max pool plus a skip read of the same input.
% test-sizes: B=2, n=5, L=9
input z_{b,i}, 0 \le b < B, 0 \le i < n
input x_{b,p}, 0 \le b < B, 0 \le p < L
m_b = \max_{i} z_{b,i}
s_{b,i} = \frac{\exp(z_{b,i} - m_b)}{\sum_{j} \exp(z_{b,j} - m_b)}
y_{b,i} = \max_{0 \le a < 3} x_{b,2i+a} + x_{b,2i+1} x_{b,2i}
output s, y
