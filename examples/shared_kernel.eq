% One kernel w shared by two convolutional layers: its gradient is the sum
% over both layers and over every position of each.
% test-sizes: n=9
input y_i, 0 \le i < n
param w_a, 0 \le a < 3
u_i = \tanh\left(\sum_{a} w_a y_{i+a}\right)
v_i = \sum_{a} w_a u_{i+a}
output v
