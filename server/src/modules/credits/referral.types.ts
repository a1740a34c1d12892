import { Field, Int, ObjectType } from "type-graphql";

@ObjectType({ description: "How the account's invitations are going.", simpleResolvers: true })
export class ReferralStats {
  @Field({ description: "The account's referral code." })
  code: string;

  @Field({ description: "The invitation link to share (opens sign-up with the code filled in)." })
  link: string;

  @Field(() => Int, { description: "Accounts registered with the code." })
  invited: number;

  @Field(() => Int, { description: "Invitations rewarded (the friend confirmed their email, within the monthly cap)." })
  rewarded: number;

  @Field(() => Int, { description: "Bonus credits earned through invitations." })
  creditsEarned: number;
}
